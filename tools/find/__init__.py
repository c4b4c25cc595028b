"""Finding photos: search by example or by words, near-duplicates, and named subjects."""
