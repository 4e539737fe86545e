"""The PVs of the instruments server mode: their names under a prefix and their states.

One place for these facts: the server (:mod:`epics.instruments.server`) and the IOC that serves
the PVs (``epics.sim``'s training IOC, :mod:`epics.sim.instrument_pvs`) both read them here.

=================  =======================  ===============================================
PV (after prefix)  record                   meaning
=================  =======================  ===============================================
``instrument``     stringout                the instrument to act on
``position``       stringout                the position to go to or save
``command``        mbbo                     write ``Go To`` or ``Save``; back to ``Idle`` when
                                            the request has been carried out
``status``         mbbo                     ``Idle``, ``Busy``, ``Done`` or ``Error``
``message``        waveform of CHAR (256)   progress and the outcome, in words
``busy``           bo                       1 from the command's put until the request ends
=================  =======================  ===============================================

The IOC sets ``busy`` to 1 while processing the command's put itself, so a client that writes
the command with put-completion and then waits for ``busy`` to be 0 cannot miss the request.

Threads: any (constants).
"""
from __future__ import annotations

__all__ = ["BUSY", "COMMAND", "COMMANDS", "DEFAULT_PREFIX", "GO_TO", "IDLE", "INSTRUMENT",
           "MESSAGE", "MESSAGE_LENGTH", "POSITION", "SAVE", "STATUS", "STATUSES"]

#: The prefix of the training IOC's instruments server PVs.
DEFAULT_PREFIX = "sim:inst:"

INSTRUMENT = "instrument"
POSITION = "position"
COMMAND = "command"
STATUS = "status"
MESSAGE = "message"
BUSY = "busy"

#: The states of ``command``, by index.
COMMANDS = ("Idle", "Go To", "Save")
IDLE, GO_TO, SAVE = range(3)
#: The states of ``status``, by index.
STATUSES = ("Idle", "Busy", "Done", "Error")
#: Characters of ``message`` (the NELM of its CHAR waveform).
MESSAGE_LENGTH = 256
