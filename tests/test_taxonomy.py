"""The shipped taxonomy: enough categories, resolvable partner types, phrases in one place, embeddings current."""
from __future__ import annotations

from matcher.taxonomy import PROTOTYPES_DIR, CategoryTagger, PhraseIndex, _prototype_key, load_taxonomy
from matcher.text import stems


def test_taxonomy_covers_what_partnerships_give_schools():
    tax = load_taxonomy()
    assert len(tax.categories) >= 25
    assert set(tax.partner_type_slugs) == {"business", "nonprofit", "higher_education", "government", "health",
                                           "library", "cultural", "community", "foundation"}
    assert all(c.description and len(c.phrases) >= 30 for c in tax.categories)
    assert tax.resolve_partner_type("University") == "higher_education"
    assert tax.resolve_partner_type("Non-profit") == "nonprofit"


def test_no_phrase_stands_in_two_categories():
    seen: dict[tuple[str, ...], str] = {}
    for c in load_taxonomy().categories:
        for p in c.phrases:
            key = tuple(stems(p))
            assert seen.setdefault(key, c.slug) == c.slug, (p, seen[key], c.slug)


def test_phrases_find_categories_in_plain_text():
    tax = load_taxonomy()
    found = {tax.categories[ci].slug for ci, _ in PhraseIndex(tax).find("Our kids are hungry and need a food pantry")}
    assert found == {"food_insecurity"}


def test_shipped_prototype_embeddings_match_the_taxonomy():
    """Rebuild with `python -m matcher.taxonomy` after editing taxonomy.toml."""
    from matcher.encoders import load_encoder

    key = _prototype_key(load_encoder("minilm"), CategoryTagger.prototype_texts(load_taxonomy()))
    assert (PROTOTYPES_DIR / f"{key}.npy").exists()
    assert len(list(PROTOTYPES_DIR.glob("*.npy"))) == 1
