"""Readers of the real datasets' on-disk layouts, manifests, and the image operations they share."""
