"""``python -m daudit publish RESULT_DIR --knowledge-center DIR``: a finished run into the KC."""

from __future__ import annotations

import os

__all__ = ["configure_parser", "main"]


def configure_parser(parser) -> None:
    """Add the ``publish`` arguments to `parser`."""
    parser.add_argument("result_dir", metavar="RESULT_DIR",
                        help="the finished run's output folder (holds summary.json)")
    default_kc = os.environ.get("KNOWLEDGE_CENTER")
    parser.add_argument(
        "--knowledge-center", metavar="DIR", default=default_kc, required=default_kc is None,
        help="root of the knowledge-center git repository (default: $KNOWLEDGE_CENTER); the "
             "report goes to logg/moe/exp/, figures to logg/moe/img/, and the hub (§DG1) and "
             "roadmap (MVP-0.1) get a marked block",
    )
    parser.add_argument("--force", action="store_true",
                        help="publish even if DIR is not a git work tree or the files to change "
                             "have uncommitted changes (old files are still backed up)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check and say what would change; write nothing")


def main(args) -> int:
    """Publish and print what changed; `DauditError` goes to the CLI."""
    from daudit.app.publish import format_publish_result, publish_run  # lazy: keeps --help fast

    result = publish_run(args.result_dir, args.knowledge_center, force=args.force,
                         dry_run=args.dry_run)
    print(format_publish_result(result))
    return 0
