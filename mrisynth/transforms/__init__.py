"""mrisynth.transforms"""
