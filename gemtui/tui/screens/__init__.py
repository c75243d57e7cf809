"""Screens, each with a sibling .tcss file loaded through CSS_PATH."""
