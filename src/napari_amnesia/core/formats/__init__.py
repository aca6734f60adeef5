"""Exchange formats: exports to NWB and suite2p folders, imports of suite2p and CaImAn results."""
