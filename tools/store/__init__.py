"""The Milvus store: connections (Lite or a server), the photo and subject collections, saved
file states, and upgrades of older collections."""
