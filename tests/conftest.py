"""Tiny, readable fixtures: a handful of schools and partners whose right answers are obvious."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

SCHOOLS = [
    # school_id, name, needs, grades, lat, lon, preferred types
    ("S1", "Oak Elementary", "Many of our children come to school hungry and families run out of groceries before payday.", "K-5", 40.00, -75.00, ""),
    ("S2", "Pine Middle School", "Students are anxious and grieving; we need counselors and therapy for trauma.", "6-8", 40.02, -75.01, ""),
    ("S3", "Cedar High School", "Seniors need help with college applications, the FAFSA and scholarships.", "9-12", 40.05, -75.05, "higher_education"),
    ("S4", "Birch Elementary", "Our students have never visited a museum and want hands-on science field trips.", "K-5", 41.50, -76.50, ""),
    ("S5", "Maple Academy", "Teachers want coaching on classroom management.", "", None, None, ""),
]
PARTNERS = [
    # partner_id, name, offerings, type, grades, lat, lon, radius, remote, capacity
    ("P1", "Community Food Bank", "Weekend food backpacks, a school pantry and free groceries for families.", "nonprofit", "PK-12", 40.01, -75.00, "20", "false", "5"),
    ("P2", "Hope Counseling Center", "Licensed therapists provide school-based counseling, grief groups and crisis support.", "health", "K-12", 40.02, -75.02, "15", "false", "3"),
    ("P3", "State University Access Office", "Advisers guide first-generation students through admissions essays and financial aid forms.", "higher_education", "11-12", 40.06, -75.04, "50", "true", ""),
    ("P4", "Science Discovery Museum", "Interactive exhibits, school field trips and hands-on science workshops.", "cultural", "K-8", 40.00, -75.01, "10", "false", "4"),
    ("P5", "Teacher Coaching Collaborative", "Instructional coaches support new teachers with classroom management.", "nonprofit", "K-12", 40.03, -75.03, "", "true", "2"),
    ("P6", "Full Pantry Partners", "Free groceries and meal kits for hungry families.", "nonprofit", "K-12", 40.00, -75.00, "20", "false", "0"),
    ("P7", "Teen Robotics League", "Robotics competitions for high school teams.", "nonprofit", "9-12", 40.00, -75.00, "30", "false", "5"),
]


def schools_frame() -> pd.DataFrame:
    cols = ["school_id", "name", "needs", "grades", "latitude", "longitude", "preferred_partner_types"]
    df = pd.DataFrame(SCHOOLS, columns=cols)
    return df.astype(str).replace({"None": ""})


def partners_frame() -> pd.DataFrame:
    cols = ["partner_id", "name", "offerings", "partner_type", "grades", "latitude", "longitude",
            "service_radius_km", "remote", "capacity"]
    return pd.DataFrame(PARTNERS, columns=cols).astype(str)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("data")
    schools_frame().to_csv(d / "schools.csv", index=False)
    partners_frame().to_csv(d / "partners.csv", index=False)
    pd.DataFrame({"school_id": ["S1", "S2", "S3"], "partner_id": ["P1", "P2", "P3"], "outcome": ["1", "1", "0"],
                  "start_date": ["2024-01-10", "2024-02-01", "2025-03-05"]}).to_csv(d / "partnerships.csv", index=False)
    return d


@pytest.fixture(scope="session")
def fitted(data_dir):
    from matcher.data import read_partners, read_schools
    from matcher.model import PartnerMatcher

    return PartnerMatcher().fit(read_schools(data_dir / "schools.csv"), read_partners(data_dir / "partners.csv"))


@pytest.fixture(scope="session")
def model_file(data_dir, tmp_path_factory) -> Path:
    from matcher.training import train_model

    path = tmp_path_factory.mktemp("model") / "matcher.joblib"
    train_model(data_dir / "schools.csv", data_dir / "partners.csv", data_dir / "partnerships.csv", path)
    return path


# --------------------------------------------------------------------------- generated data
# One generated dataset (60 schools, 150 partners, their history) and models on it, shared by every test
# file that needs more than the tiny tables above.


@pytest.fixture(scope="session")
def gen_dir(tmp_path_factory) -> Path:
    from matcher.generate import generate, write_dataset

    d = tmp_path_factory.mktemp("gen")
    write_dataset(generate(60, 150, seed=5), d)
    return d


@pytest.fixture(scope="session")
def gen_model_file(gen_dir, tmp_path_factory) -> Path:
    from matcher.training import train_model

    path = tmp_path_factory.mktemp("genmodel") / "m.joblib"
    train_model(gen_dir / "schools.csv", gen_dir / "partners.csv", gen_dir / "partnerships.csv", path)
    return path


@pytest.fixture(scope="session")
def gen_model(gen_model_file):
    from matcher.persistence import load_model

    return load_model(gen_model_file)


@pytest.fixture(scope="session")
def gen_history(gen_dir):
    from matcher.data import read_partnerships

    return read_partnerships(gen_dir / "partnerships.csv")
