"""The parts of the PV object (:class:`epics.PV` puts them together), one responsibility each:
connection state, monitor and callback fan-out, writing, attributes and text.
"""
