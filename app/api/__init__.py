"""The HTTP API described as a whole: the OpenAPI post-processor and the tag list. Composition,
not core: it reads the schemas of every domain, so it sits above them, beside app/main.py."""
