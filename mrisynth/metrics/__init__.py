"""mrisynth.metrics"""
