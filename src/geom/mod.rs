//! Exact geometry over the scene model: object measurements, distances, visibility.
