"""renkei (連携): integration middleware for Japanese home-care teams."""

__version__ = "0.1.0"
