"""Learned abuse detector: a small head over the emotion model's pooled e5 features, plus a char n-gram half."""
