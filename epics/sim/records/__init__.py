"""Simulations of the synApps records EPICS base lacks (motor, scaler, mca, transform, SIS3820
struck, sscan) and an areaDetector, served by caproto: see ``server.py``. The shared record
machinery is in ``_record.py``."""
