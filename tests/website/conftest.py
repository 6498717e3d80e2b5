"""The site's fixtures: the website built once per test run (see ``helpers.site_build``)."""

from helpers.site_build import built_site  # noqa: F401 (a fixture, used by name)
