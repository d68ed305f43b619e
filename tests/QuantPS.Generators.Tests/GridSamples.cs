namespace QuantPS.Generators.Tests;

/// <summary>
/// A small grid description for the generator tests: 16 entries of 8 values, a 4-bit index per 8 values, one sign bit per
/// value, a 4-bit sub-scale per 32 values, paired with Q8_K. <see cref="Replace"/> makes the broken variants.
/// </summary>
internal static class GridSamples
{
    public const string Q8_K = """

        [GgmlBlock(15, "Q8_K", "q8_K", blockSize: 256, typeSize: 292)]
        [Scale("D", NumberFormat.F32)]
        [Quants("Qs", bits: 8, count: 256, Signed = true)]
        [GroupSums("BSums", bits: 16, count: 16, Signed = true)]
        [Reconstruct(ValueScheme.Scaled)]
        [Activation("Q8_K")]
        [ActivationQuantizer(QuantizerRule.SignedAbsMax)]
        public partial struct BlockQ8_K;
        """;

    public const string Grid = """

        [Grid("T16", valuesPerEntry: 8,
            0x0807060504030201, 0x0B0A090807060504, 0x0E0D0C0B0A090807, 0x02010F0E0D0C0B0A,
            0x05040302010F0E0D, 0x0807060504030201, 0x0B0A090807060504, 0x0E0D0C0B0A090807,
            0x02010F0E0D0C0B0A, 0x05040302010F0E0D, 0x0807060504030201, 0x0B0A090807060504,
            0x0E0D0C0B0A090807, 0x02010F0E0D0C0B0A, 0x05040302010F0E0D, 0x0807060504030201)]
        internal static class SampleGrids;
        """;

    public const string Block = """

        [GgmlBlock(30, "IQ2_T", "iq2_t", blockSize: 256, typeSize: 54)]
        [Scale("D", NumberFormat.F16)]
        [GridIndex("Qs", bits: 4, count: 32, valuesPerIndex: 8, Grid = "T16")]
        [Signs("Signs", count: 256)]
        [SubScales("Scales", bits: 4, count: 8)]
        [Bits(BitRole.GridIndex, "Qs", 4)]
        [Bits(BitRole.SignBits, "Signs", 1)]
        [Bits(BitRole.SubScale, "Scales", 4, Per = 32)]
        [Reconstruct(ValueScheme.Grid, Multiplier = 0.5)]
        [Activation("Q8_K")]
        public partial struct BlockIQ2_T;
        """;

    /// <summary>The whole sample: the grid type, its grid and Q8_K.</summary>
    public const string Source = "namespace QuantPS.Kernels.Formats;\n" + Block + Grid + Q8_K;

    /// <summary>The sample with one piece of text replaced (which must be there).</summary>
    public static string Replace(string from, string to) =>
        Source.Contains(from, StringComparison.Ordinal) ? Source.Replace(from, to, StringComparison.Ordinal) : throw new ArgumentException("not in the sample: " + from);
}
