"""Reward models: Bradley-Terry objective, trainer entry points, best-of-N reranking."""
