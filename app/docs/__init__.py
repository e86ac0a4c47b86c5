"""The API's documentation pages, /docs and /redoc, served without any other origin."""
