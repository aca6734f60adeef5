"""Take the pictures of docs/clustering.md: clustering and factorization of a real movie.

Run under Xvfb, from the repository root::

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots_clustering.py

It opens ``allen2p_100x100x100.tif`` (``../shared/data``, or the folder given as the
first argument) with the plugin's reader, skeletonizes it with the *Skeleton* dock
(``threshold_offset=0.04, min_component_length=10``, see docs/skeleton.md), clusters
its active pixels with the *Coactive clustering* dock (template
``clustering_active`` with ``min_cluster_size=5``), lassoes one cluster's points in
the embedding scatter, clusters the clusters, and factorizes the active pixels'
traces (PCA-ICA) with the *Factorization* dock. It writes, in ``docs/images/``,
``clustering_widget.png`` (the dock), ``clustering_real.png``,
``clustering_selection.png``, ``clustering_level2.png`` and
``clustering_factorization.png``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PLUGIN = "napari-amnesia"


def _settle(app, seconds: float = 0.5) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def main(argv: list[str]) -> int:
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen renders napari's canvas black
    os.environ["NAPARI_AMNESIA_SYNC"] = "1"  # each stage finishes before the next picture
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_amnesia.napari.viewer import open_docks, raise_dock

    data = Path(argv[0]) if argv else ROOT.parent / "shared" / "data"
    path = data / "allen2p_100x100x100.tif"
    if not path.exists():
        print(f"missing {path}", file=sys.stderr)
        return 1
    IMAGES.mkdir(parents=True, exist_ok=True)
    viewer = napari.Viewer(title="napari-amnesia: coactive clustering")
    viewer.window.resize(1920, 1080)
    app = QApplication.instance()
    [movie] = viewer.open(path, plugin=PLUGIN)
    docks = open_docks(viewer)  # every dock of the plugin, the stage docks tabbed
    viewer.window.resize(1920, 1080)

    skeleton = docks["Skeleton"]
    raise_dock(skeleton)
    skeleton.threshold_offset.value = 0.04
    skeleton.min_component_length.value = 10
    skeleton.run()
    skeleton.preview.value = "summary"
    mean = skeleton.show_preview()  # the mean image, a calmer background than one frame
    viewer.layers.move(viewer.layers.index(mean), 1)
    for word in ("skeleton", "junctions"):
        viewer.layers[f"{movie.name} · {word}"].visible = False
    movie.visible = False

    widget = docks["Coactive clustering"]
    raise_dock(widget)
    widget.template.value = "clustering_active"
    widget.min_cluster_size.value = 5  # mesoscopic clusters, grouped at level 2 below
    widget.run()
    _settle(app)
    widget.native.widget().grab().save(str(IMAGES / "clustering_widget.png"))  # all rows
    result = widget.levels[0]
    clusters = viewer.layers[f"{movie.name} · clusters"]
    clusters.opacity = 0.7
    viewer.dims.set_current_step(0, 50)
    viewer.layers.selection.active = clusters
    _settle(app)
    viewer.screenshot(str(IMAGES / "clustering_real.png"), canvas_only=False)

    # a lasso around the points of cluster 2: their pixels and their mean trace
    from scipy.spatial import ConvexHull

    scatter = widget.embedding_view
    xy = result.embedding[result.labels == 2]
    hull = xy[ConvexHull(xy).vertices]
    centre = xy.mean(axis=0)
    scatter.select_in(centre + 1.1 * (hull - centre))
    clusters.visible = False
    _settle(app)
    viewer.screenshot(str(IMAGES / "clustering_selection.png"), canvas_only=False)

    # cluster the clusters (the pixel template's consecutive step)
    clusters.visible = True
    widget.template.value = "clustering_pixel · level 2"
    widget.consecutive_button.native.click()
    macro = widget.levels[-1]
    clusters.visible = False
    viewer.layers[scatter.highlight_name].visible = False
    _settle(app)
    viewer.screenshot(str(IMAGES / "clustering_level2.png"), canvas_only=False)

    # factorization of the raw movie
    viewer.layers[f"{movie.name} · clusters level 2"].visible = False
    viewer.window.remove_dock_widget(scatter)
    factorization = docks["Factorization"]
    raise_dock(factorization)
    # (on the raw pixels of this short crop, the components are single bright frames or
    # noise-like maps, see docs/clustering.md; the active pixels' traces do better)
    factorization.input.value = "active pixels"
    factorization.method.value = "ica"
    factorization.run()
    components = viewer.layers[f"{movie.name} · components"]
    components.visible = True
    mean.visible = False
    viewer.dims.set_current_step(0, 0)
    viewer.reset_view()  # the mosaic of the components lies right of the movie
    _settle(app)
    viewer.screenshot(str(IMAGES / "clustering_factorization.png"), canvas_only=False)
    print(f"level 1: {result.n_clusters} clusters of {result.n_elements} active pixels; "
          f"level 2: {macro.n_clusters} clusters; ICA: {factorization.result.n_components} "
          f"components → {IMAGES}/clustering_*.png")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
