"""Image classification on ImageNet subsets (cls_a, cls_b, cls_c, cls_10c)."""
