"""mrisynth.utils"""
