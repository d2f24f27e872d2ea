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
             "report goes to <topic>/exp/, figures to <topic>/img/, the hub's §DG1 table gets the run's "
             "row, the roadmap's MVP-0.1 its entry, and the MVP-0.1 status follows the verdict (README: "
             "'The knowledge center that publish writes into')",
    )
    parser.add_argument("--topic", metavar="DIR",
                        help="topic folder inside the knowledge center (default: $DAUDIT_KC_TOPIC or logg/moe)")
    parser.add_argument("--hub", metavar="FILE", help="hub file in the topic folder (default: moe_snr_hub.md, "
                        "or the one *_hub.md there)")
    parser.add_argument("--roadmap", metavar="FILE", help="roadmap file in the topic folder (default: "
                        "moe_snr_roadmap.md, or the one *_roadmap.md there)")
    parser.add_argument("--force", action="store_true",
                        help="publish even if DIR is not a git work tree, the files to change "
                             "have uncommitted changes (old files are still backed up) or the run is a --quick one")
    parser.add_argument("--dry-run", action="store_true",
                        help="check and say what would change; write nothing")


def main(args) -> int:
    """Publish and print what changed; `DauditError` goes to the CLI."""
    # lazy: keeps --help fast
    from daudit.app.knowledge_center import layout_for
    from daudit.app.publish import format_publish_result, publish_run

    layout = layout_for(args.knowledge_center, topic=args.topic, hub=args.hub, roadmap=args.roadmap)
    result = publish_run(args.result_dir, args.knowledge_center, force=args.force,
                         dry_run=args.dry_run, layout=layout)
    print(format_publish_result(result))
    return 0
