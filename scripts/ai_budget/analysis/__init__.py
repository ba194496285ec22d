"""Pure arithmetic: de-duplication, pricing, pace, calibration, planning, reports."""
