namespace QuantPS.Kernels.MatMul;

/// <summary>
/// Waits for another thread that is running right now (the last tile, the last quantized row): pause-spins first,
/// because yielding on a busy machine can cost a whole scheduler time slice, and yields only after a long wait.
/// </summary>
internal struct PatientSpinner
{
    private const int PauseRounds = 4096; // roughly 50-100 microseconds of pause instructions
    private int _rounds;
    private SpinWait _fallback;

    public void SpinOnce()
    {
        if (_rounds < PauseRounds)
        {
            _rounds++;
            Thread.SpinWait(8);
            return;
        }

        _fallback.SpinOnce(sleep1Threshold: -1);
    }
}
