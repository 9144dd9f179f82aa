"""Where schools and partners are: points on the sphere, distances for bounds, and the chunk plan."""
from __future__ import annotations

import math

import numpy as np

from matcher.features import EARTH_RADIUS_KM, SchoolFeatures

#: Extra km on geometric tests (haversine rounding is ~1e-9 km).
EPS_KM = 1e-6


def unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere (NaN where the location is unknown)."""
    la, lo = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=1)


def chord_km(xyz: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) from unit vectors to one unit vector (well conditioned when near)."""
    chord = np.sqrt(((xyz - c[None, :]) ** 2).sum(axis=1))
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2, 1.0))


def centre(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float, float]:
    """A centre of some points and a radius (km) around it that holds them all, a hair generous."""
    lat0 = 0.5 * (float(np.min(lat)) + float(np.max(lat)))
    lon0 = 0.5 * (float(np.min(lon)) + float(np.max(lon)))
    radius = float(np.max(haversine_km(lat0, lon0, lat, lon))) * (1 + 1e-9) + EPS_KM
    return lat0, lon0, radius


def haversine_km(lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (for bounds only; exact distances use matcher.features)."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))



def plan_chunks(s: SchoolFeatures, chunk_size: int = 256) -> list[np.ndarray]:
    """Rows of ``s`` in chunks of at most ``chunk_size`` schools that lie close together.

    Known locations are split recursively at the median of their wider side
    (a k-d tree; ties broken by row, so the plan depends only on the data);
    schools without a location come last, in row order. Every chunk's rows are
    ascending.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    n = len(s)
    known = ~(np.isnan(s.lat) | np.isnan(s.lon))
    out: list[np.ndarray] = []
    lat, lon = s.lat, s.lon
    for group in [np.flatnonzero(known)]:
        stack = [group]
        while stack:
            idx = stack.pop()
            if len(idx) == 0:
                continue
            if len(idx) <= chunk_size:
                out.append(np.sort(idx))
                continue
            la, lo = lat[idx], lon[idx]
            mid = math.radians(0.5 * (float(la.min()) + float(la.max())))
            key = la if (la.max() - la.min()) >= (lo.max() - lo.min()) * math.cos(mid) else lo
            order = idx[np.lexsort((idx, key))]
            # split into whole chunks where possible, so leaves are full
            half = (-(-len(idx) // chunk_size) // 2) * chunk_size
            stack.append(order[half:])
            stack.append(order[:half])
    unknown = np.flatnonzero(~known)
    for start in range(0, len(unknown), chunk_size):
        out.append(unknown[start : start + chunk_size])
    assert sum(len(c) for c in out) == n
    return out

