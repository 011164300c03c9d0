"""mrisynth.phantom"""
