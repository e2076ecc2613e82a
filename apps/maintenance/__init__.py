"""Predictive maintenance: C-MAPSS remaining useful life, AI4I failures, alarms, savings."""
