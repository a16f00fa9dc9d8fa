"""Pure matching engine: blocking keys, comparison levels, Fellegi–Sunter scoring, decisions, EM."""
