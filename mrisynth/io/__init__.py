"""mrisynth.io"""
