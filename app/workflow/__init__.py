"""The workflow domain: states, transitions, deadlines, calendar, notices.

Importing it tells the catalogue which workflow keys a procedure version may name: the catalogue cannot
import the definitions itself, since the workflow depends on the catalogue.
"""

from app.catalogue.schemas import register_workflow_keys
from app.workflow.definition import definitions

register_workflow_keys(lambda: definitions().keys(),
                       lambda: {key for key, d in definitions().items() if "request_payment" in d.actions},
                       lambda key: definitions()[key].step_names if key in definitions() else frozenset())
