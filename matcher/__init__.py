"""matcher: rank the community partners that can meet a school's needs, with reasons.

The library is usable without the CLI::

    from matcher.data import read_schools, read_partners
    from matcher.model import PartnerMatcher

    model = PartnerMatcher().fit(read_schools("schools.csv"), read_partners("partners.csv"))
    model.recommend("S000001", n=5)
"""
__version__ = "0.1.0"
