"""Where schools and partners sit, and what places and people are called.

Built-in US metros (:data:`METROS`) or a roster's real schools as centres,
points scattered around them, and the name tables (places, people, surnames)
that school and partner names are made from.
"""
from __future__ import annotations

import numpy as np

from matcher.generate.roster import Roster

_KM_PER_DEG = 111.32


# (city, latitude, longitude, relative size, typical spread in km)
METROS: tuple[tuple[str, float, float, float, float], ...] = (
    ("New York", 40.7128, -74.0060, 19.5, 18.0),
    ("Los Angeles", 34.0522, -118.2437, 13.0, 18.0),
    ("Chicago", 41.8781, -87.6298, 9.4, 16.0),
    ("Dallas", 32.7767, -96.7970, 7.6, 16.0),
    ("Houston", 29.7604, -95.3698, 7.1, 16.0),
    ("Washington", 38.9072, -77.0369, 6.3, 14.0),
    ("Philadelphia", 39.9526, -75.1652, 6.2, 14.0),
    ("Miami", 25.7617, -80.1918, 6.1, 14.0),
    ("Atlanta", 33.7490, -84.3880, 6.1, 16.0),
    ("Boston", 42.3601, -71.0589, 4.9, 12.0),
    ("Phoenix", 33.4484, -112.0740, 4.9, 15.0),
    ("San Francisco", 37.7749, -122.4194, 4.7, 13.0),
    ("Detroit", 42.3314, -83.0458, 4.3, 13.0),
    ("Seattle", 47.6062, -122.3321, 4.0, 12.0),
    ("Minneapolis", 44.9778, -93.2650, 3.7, 12.0),
    ("San Diego", 32.7157, -117.1611, 3.3, 11.0),
    ("Tampa", 27.9506, -82.4572, 3.2, 12.0),
    ("Denver", 39.7392, -104.9903, 3.0, 11.0),
    ("St. Louis", 38.6270, -90.1994, 2.8, 11.0),
    ("Baltimore", 39.2904, -76.6122, 2.8, 10.0),
    ("Orlando", 28.5384, -81.3789, 2.7, 11.0),
    ("Charlotte", 35.2271, -80.8431, 2.7, 11.0),
    ("San Antonio", 29.4241, -98.4936, 2.6, 11.0),
    ("Portland", 45.5152, -122.6784, 2.5, 10.0),
    ("Las Vegas", 36.1699, -115.1398, 2.3, 9.0),
    ("Kansas City", 39.0997, -94.5786, 2.2, 10.0),
    ("Nashville", 36.1627, -86.7816, 2.0, 10.0),
    ("Cleveland", 41.4993, -81.6944, 2.0, 9.0),
    ("Albuquerque", 35.0844, -106.6504, 0.9, 7.0),
)

_PLACE_A = (
    "Oak", "Cedar", "Maple", "Pine", "Willow", "River", "Lake", "Spring", "Sunny", "Green",
    "Fair", "Clear", "Rock", "Stone", "Brook", "Elm", "Ash", "Bay", "Palm", "Meadow",
    "Harbor", "Silver", "Golden", "Red", "Blue", "Glen", "Fox", "Eagle", "Hawk", "Deer",
    "Mill", "Bridge", "Cypress", "Magnolia", "Laurel", "Birch", "Hickory", "Sycamore",
    "Aspen", "Highland", "North", "South", "East", "West", "Pleasant", "Mountain", "Prairie",
)
_PLACE_B = (
    "wood", "view", "dale", "side", "field", "crest", " Ridge", " Valley", "brook", " Park",
    " Hills", " Grove", " Heights", " Springs", " Creek", " Point", " Meadows", "ton",
    "mont", " Lake", " Gardens", " Terrace", " Landing", " Forest", " Crossing",
)
_PEOPLE = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Kennedy", "Franklin", "Madison",
    "Jackson", "Adams", "Carver", "Douglass", "Tubman", "Hamilton", "Monroe", "Garfield",
    "Whitman", "Edison", "Dr. Martin Luther King Jr.", "Thurgood Marshall", "Rosa Parks",
    "Sally Ride", "Cesar Chavez", "Mary McLeod Bethune", "Booker T. Washington",
    "Sojourner Truth", "Amelia Earhart", "Jackie Robinson", "Roberto Clemente",
    "Sandra Day O'Connor", "Ellen Ochoa", "Frederick Douglass", "John Glenn",
    "Eleanor Roosevelt", "Helen Keller", "Langston Hughes", "Maya Angelou", "Dolores Huerta",
    "Barbara Jordan", "Katherine Johnson", "Mae Jemison", "Ruby Bridges", "Daniel Inouye",
)
SURNAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Nelson", "Baker", "Hall", "Rivera",
    "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Okafor", "Cohen",
    "O'Brien", "Yamamoto", "Haddad", "Kowalski", "Novak", "Singh", "Okoye",
)
#: Given names of partners' contact people.
FIRST_NAMES = (
    "Maria", "James", "Aisha", "Daniel", "Sofia", "Michael", "Keisha", "David", "Ana", "Robert",
    "Priya", "Luis", "Grace", "Kevin", "Fatima", "Thomas", "Mei", "Carlos", "Hannah", "Andre",
    "Olivia", "Jamal", "Rosa", "Ethan", "Leah", "Marcus", "Yesenia", "Samuel", "Nora", "Omar",
)
SAINTS = ("Mary", "Joseph", "Anne", "Francis", "Luke", "Paul", "Catherine", "Vincent", "Monica")


def random_items(rng: np.random.Generator, table: tuple[str, ...], n: int) -> np.ndarray:
    """n random items of ``table`` as an object array."""
    arr = np.empty(len(table), dtype=object)
    arr[:] = list(table)
    return arr[rng.integers(0, len(table), n)]


def scatter(rng: np.random.Generator, lat0: np.ndarray, lon0: np.ndarray, sigma_km: np.ndarray,
             max_km: float) -> tuple[np.ndarray, np.ndarray]:
    """Scatter points around centres: Gaussian with a heavier tail, clipped at max_km."""
    n = len(lat0)
    sigma = sigma_km * np.where(rng.random(n) < 0.2, 2.2, 1.0)  # some suburbs sprawl further
    dx, dy = rng.normal(size=(2, n)) * sigma
    r = np.hypot(dx, dy)
    scale = np.minimum(1.0, max_km / np.maximum(r, 1e-9))
    lat = lat0 + dy * scale / _KM_PER_DEG
    lon = lon0 + dx * scale / (_KM_PER_DEG * np.cos(np.radians(lat0)))
    return np.round(lat, 5), np.round(lon, 5)


def place_names(rng: np.random.Generator, n: int, p_person: float = 0.0) -> np.ndarray:
    """Plausible place names ("Cedar Ridge", "Oakwood"), some named after people; never the
    same word twice ("Spring Springs")."""
    a = rng.integers(0, len(_PLACE_A), n)
    b = rng.integers(0, len(_PLACE_B), n)
    first = np.array(_PLACE_A, dtype=object)
    second = np.array(_PLACE_B, dtype=object)
    clash = np.array([[y.strip().lower().rstrip("s") == x.lower() for y in _PLACE_B]
                      for x in _PLACE_A])
    b = np.where(clash[a, b], (b + 1) % len(_PLACE_B), b)
    names = first[a] + second[b]
    if p_person > 0:
        person = rng.random(n) < p_person
        names[person] = random_items(rng, _PEOPLE, int(person.sum()))
    return names


def metro_count(n_schools: int, n_partners: int) -> int:
    """How many of the largest metros to use: about one per 100 rows of the smaller table."""
    # Spreading 300 partners over 29 metros would leave ~10 per metro, too few to choose
    # from, and partnerships would mostly go to remote partners.
    smaller = min(n_schools, n_partners) if n_schools and n_partners else max(n_schools, n_partners)
    return int(np.clip(smaller // 100, 3, len(METROS)))


def locations(rng: np.random.Generator, n: int, roster: Roster | None, sigma_km: float,
               n_metros: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, city) for n new points around the largest metros or the roster's schools."""
    if roster is None:
        w = np.array([m[3] for m in METROS[:n_metros]])
        m = rng.choice(n_metros, size=n, p=w / w.sum())
        lat0 = np.array([x[1] for x in METROS])[m]
        lon0 = np.array([x[2] for x in METROS])[m]
        spread = np.array([x[4] for x in METROS])[m]
        city = np.array([x[0] for x in METROS], dtype=object)[m]
        lat, lon = scatter(rng, lat0, lon0, spread, 45.0)
        return lat, lon, city
    a = rng.integers(0, len(roster.lat), n)
    lat, lon = scatter(rng, roster.lat[a], roster.lon[a], np.full(n, sigma_km), 40.0)
    return lat, lon, roster.city[a]


def headquarters(rng: np.random.Generator, n: int,
                  roster: Roster | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, city) of remote partners' offices: downtown in a big metro, or a roster city."""
    if roster is not None:
        return locations(rng, n, roster, 3.0, 0)
    # National organisations sit in large cities, whether or not the sample's schools do.
    w = np.array([m[3] for m in METROS])
    m = rng.choice(len(METROS), size=n, p=w / w.sum())
    lat0 = np.array([x[1] for x in METROS])[m]
    lon0 = np.array([x[2] for x in METROS])[m]
    lat, lon = scatter(rng, lat0, lon0, np.full(n, 3.0), 12.0)
    return lat, lon, np.array([x[0] for x in METROS], dtype=object)[m]
