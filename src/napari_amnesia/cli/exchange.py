"""``amnesia export`` and ``amnesia import``: the ecosystem's formats in and out.

::

    amnesia export RESULTS --format nwb --metadata session.yaml --out rec1.nwb
    amnesia export RESULTS --format suite2p --out rec1/suite2p     (→ rec1/suite2p/plane0/)
    amnesia export RESULTS --format imagej --out rois.zip
    amnesia export RESULTS --format csv --out tables/
    amnesia export RESULTS --format labels --out rois.tif
    amnesia export --metadata-template [--out session.yaml]        the NWB metadata to fill
    amnesia import SRC --out RESULTS [--movie MOVIE]               suite2p plane or CaImAn .hdf5

Both are thin over :mod:`napari_amnesia.core.formats` (``export`` and
``import_results``), which say what each format holds and how the names map.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import OVERWRITE_HELP, Formatter, progress

__all__ = ["add_exchange_commands"]


def _write_template(args: argparse.Namespace) -> int:
    from ..core.files import atomic_file
    from ..core.formats.nwb_metadata import metadata_template

    text = metadata_template()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    with atomic_file(args.out, overwrite=args.overwrite) as tmp:
        tmp.write_text(text)
    print(f"NWB metadata template written to {args.out}: fill the required fields, then "
          f"amnesia export RESULTS --format nwb --metadata {args.out} --out FILE.nwb")
    return 0


def _export(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ..core.formats import export

    if args.metadata_template:
        if args.results is not None or args.format is not None:
            parser.error("--metadata-template writes the template only: give no RESULTS "
                         "nor --format with it.")
        return _write_template(args)
    missing = [name for name, value in (("RESULTS", args.results), ("--format", args.format),
                                        ("--out", args.out)) if value is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    options: dict = {}
    if args.format == "nwb":
        if args.metadata is None:
            raise ValueError("the NWB export needs the session's metadata: amnesia export "
                             "--metadata-template --out session.yaml writes a file to fill, "
                             "then pass --metadata session.yaml.")
        options.update(metadata=args.metadata, movie=args.movie,
                       accepted_only=args.accepted_only)
        if args.movie_file is not None:
            options["movie_file"] = args.movie_file
    else:
        unused = [flag for flag, given in (("--metadata", args.metadata is not None),
                                           ("--movie", args.movie != "none"),
                                           ("--movie-file", args.movie_file is not None))
                  if given]
        if unused:
            parser.error(f"{', '.join(unused)} only go with --format nwb.")
        if args.format == "suite2p":
            if args.fs is not None:
                options["fs"] = args.fs
        else:
            options["accepted_only"] = not args.all
    if args.fs is not None and args.format != "suite2p":
        parser.error("--fs only goes with --format suite2p.")
    with progress(args) as bar:
        written = export(args.results, args.format, args.out, overwrite=args.overwrite,
                         progress=bar, **options)
    print(f"{args.results} exported as {args.format} → {written}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..core.cnmf import SourceResult
    from ..core.formats import import_results

    out = import_results(args.src, args.out, overwrite=args.overwrite, movie=args.movie)
    result = SourceResult.load(out)
    origin = result.provenance.get("imported_from", {})
    print(f"{origin.get('format', 'results')} {origin.get('path', args.src)}: {result.K} ROIs "
          f"({int(result.accepted.sum())} accepted) x {result.n_frames} frames of "
          f"{result.shape[0]}x{result.shape[1]} → {out} (open it in napari, curate it, "
          "amnesia export it)")
    return 0


def add_exchange_commands(sub) -> dict:
    """Add ``export`` and ``import``; return ``{command: function}``."""
    from ..core.formats import FORMATS

    export = sub.add_parser(
        "export", help="write results as NWB, a suite2p folder, ImageJ ROIs, CSV or labels",
        description="Export the CNMF result of a results folder (of amnesia cnmf, run, "
        "batch or import, a saved result, or a saved curation: its curated decisions) for "
        "other tools. --out is: nwb: an .nwb file (needs pip install "
        "'napari-amnesia[nwb]' and --metadata); suite2p: a folder that gets plane0/ "
        "(stat.npy, F.npy, Fneu.npy, spks.npy, iscell.npy, ops.npy: every ROI, iscell from "
        "the accepted flags); imagej: a .zip ROI set; csv: a folder of tables "
        "(components.csv, traces, raw traces, spikes, ΔF/F); labels: a .tif label image. "
        "imagej, csv and labels hold the accepted ROIs unless --all.",
        formatter_class=Formatter)
    export.add_argument("results", nargs="?", type=Path, default=None,
                        help="a results folder holding a CNMF result")
    export.add_argument("--format", choices=FORMATS, default=None, help="what to write")
    export.add_argument("--out", type=Path, default=None,
                        help="the file or folder to create (see above)")
    export.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    export.add_argument("--all", action="store_true",
                        help="imagej, csv, labels: every ROI, rejected ones too")
    nwb = export.add_argument_group("NWB")
    nwb.add_argument("--metadata", type=Path, default=None,
                     help="the session's metadata (YAML, from --metadata-template)")
    nwb.add_argument("--metadata-template", action="store_true",
                     help="write the metadata YAML to fill to --out (or print it) and stop")
    nwb.add_argument("--movie", choices=["none", "link", "copy"], default="none",
                     help="the movie in the NWB file: left out, linked (relative path) or "
                     "copied (chunked, compressed)")
    nwb.add_argument("--movie-file", type=Path, default=None,
                     help="the movie to link or copy (default: the results folder's "
                     "corrected movie, else its input movie)")
    nwb.add_argument("--accepted-only", action="store_true",
                     help="only the accepted ROIs (default: all, with an accepted column)")
    s2p = export.add_argument_group("suite2p")
    s2p.add_argument("--fs", type=float, default=None,
                     help="frame rate in Hz written to ops.npy (default: the CNMF fr)")

    imp = sub.add_parser(
        "import", help="read suite2p or CaImAn results into a results folder",
        description="Read a suite2p plane folder (stat.npy, F.npy, Fneu.npy, spks.npy, "
        "iscell.npy, ops.npy) or a CaImAn HDF5 results file (cnm.save) into napari-amnesia's "
        "CNMF result folder: the same ROIs, traces, spikes and accepted flags, and where "
        "they came from. It opens in napari (Curate ROIs), and amnesia export writes it "
        "in any format. The source is only read.",
        formatter_class=Formatter)
    imp.add_argument("src", type=Path,
                     help="a suite2p plane folder (or suite2p/ with one plane), or a CaImAn "
                     ".hdf5 file")
    imp.add_argument("--out", required=True, type=Path, help="the result folder to create")
    imp.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    imp.add_argument("--movie", type=Path, default=None,
                     help="the recording: its frame size and length are checked against the "
                     "results and it is recorded in the provenance")
    return {"export": lambda args: _export(export, args), "import": _import}
