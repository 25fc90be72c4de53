"""Evaluation metrics for generative models: FID, KID, Inception Score, precision/recall, mode coverage, and
for translation: diversity among outputs, label preservation, FID/KID per domain pair.

Image sets are tensors/arrays (N, C, H, W) in [-1, 1], ``.npy`` files of them, or image folders; features
come from the FID Inception network ('inception') or a domain classifier ('classifier:PATH').
"""
from .evaluate import compute_features, compute_fid, compute_is, compute_kid, compute_modes, compute_pr, compute_stats
from .fid import (Stats, feature_stats, fid_from_features, frechet_distance, inception_score, kernel_inception_distance,
                  load_stats, save_stats)
from .modes import get_mixture, kl_to_uniform, mixture_modes, stacked_mnist_modes
from .prdc import precision_recall
from .translation import compute_diversity, compute_domain_fid, compute_label_accuracy, pairwise_diversity

__all__ = [
    "compute_features", "compute_fid", "compute_is", "compute_kid", "compute_modes", "compute_pr", "compute_stats",
    "Stats", "feature_stats", "fid_from_features", "frechet_distance", "inception_score", "kernel_inception_distance",
    "load_stats", "save_stats", "get_mixture", "kl_to_uniform", "mixture_modes", "stacked_mnist_modes",
    "precision_recall", "compute_diversity", "compute_domain_fid", "compute_label_accuracy", "pairwise_diversity",
]
