"""mrisynth.modules"""
