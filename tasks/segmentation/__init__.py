"""Semantic segmentation on Cityscapes (seg at full resolution, seg_4x on the set pre-resized to 256x512)."""
