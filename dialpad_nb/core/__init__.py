"""The foundation every other part stands on, importing nothing heavy and nothing of ours.

=================  ==================================================================
``policy``         Dialpad's numbers, outcomes, assumptions, the one live error window
``clock``          injectable time; the one epoch-millisecond converter
``errors``         the one exception tree
``models``         Dialpad's objects, validation, redaction
``directory``      the company directory: targets by id, type and name
``signing``        HS256 JWTs, algorithm pinned
``protocol``       the routing request on the wire, and how Dialpad reads the answer
``endpoint_log``   the endpoint kit's JSONL record: its fields, writer and checker
``history``        Dialpad's call record (CallProto) and its routing breadcrumbs: writer and checker
``event_log``      the event receiver's JSONL record
``frames``         the rejects frame and the read result every reader returns
``serving``        uvicorn in a thread, in the foreground, or in worker processes
``cluster``        a run on a Dask cluster: its client, and its failures as one error
``wording``        counts in words for people ("1 rule", "3 rules")
=================  ==================================================================

Import the module you need (``from dialpad_nb.core.policy import DIALPAD``); this
package itself imports nothing.
"""
