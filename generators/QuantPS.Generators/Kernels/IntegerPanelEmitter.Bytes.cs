using System.Linq;
using System.Text;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The byte panels: for weights of a narrow range (Q4_0's -8..7, Q5_0's -16..15, MXFP4's -12..12) a panel holds each
/// weight plus a bias as an unsigned byte, four per int32 lane, and pmaddubsw multiplies 64 of them with broadcast
/// int8 activations at once, twice the int16 kernel's work per multiply. The int16 sums of a flush (8 units for a
/// range of 16 values, 4 for 32) stay below 32768, so nothing saturates; pmaddwd then widens them to int32 once per
/// flush, and the bias comes off as bias times the activation block's sum. The integer sum is the int16 kernel's
/// exactly, so every result is still the scalar dot product's, bit for bit.
/// <para>
/// Panel layout, per block: 8 units of Lanes int32 (4 biased bytes each), then Lanes float scales (9 x Lanes int32).
/// Activation row layout: its k values as int8, then one float scale per block, then one int32 sum per block.
/// </para>
/// </summary>
internal static partial class IntegerPanelEmitter
{
    private const int ByteGroups = 8;

    /// <summary>Units summed in int16 before widening, by kernel: the widest range each allows is in the runtime's choice.</summary>
    private static readonly int[] Flushes = { 8, 4 };

    private static void EmitBytes(SourceWriter writer)
    {
        writer
            .Line("/// <summary>Int32 per block of a byte panel, per lane: 8 units and the scale.</summary>")
            .Line($"public const int ByteBlockInts = {Width.Text(ByteGroups + 1)};")
            .Line()
            .Line("/// <summary>The widest weight range (max - min) the byte kernel summing <paramref name=\"flush\"/> units in int16 takes: an int16 lane sums 2 x flush products of at most range x 128.</summary>")
            .Line("public static int ByteRangeFor(int flush) => 32767 / (flush * 2 * 128);")
            .Line();
        writer.Lines(ByteScalar);
        writer.Lines(BytePairs);
        foreach (var flush in Flushes)
        {
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(ByteVector(flush)));
            }
        }

        var kernels = string.Join(", ", Flushes.Select(flush => "new global::QuantPS.Kernels.IntegerBytePanelKernel[] { PanelTileBytesScalar, " + string.Join(", ", new[] { "V128", "V256", "V512" }.Select(w => $"PanelTileBytesF{Width.Text(flush)}{w}")) + " }"));
        writer.Lines($$"""
            private static readonly global::QuantPS.Kernels.IntegerBytePanelKernel[][] PanelTileBytesByFlush = { {{kernels}} };

            /// <summary>Units the byte kernels can sum in int16 before widening, widest first.</summary>
            public static global::System.ReadOnlySpan<int> ByteFlushes => new[] { {{string.Join(", ", Flushes.Select(flush => Width.Text(flush)))}} };

            /// <summary>The byte kernel summing <paramref name="flush"/> units in int16, at <paramref name="width"/>.</summary>
            public static global::QuantPS.Kernels.IntegerBytePanelKernel PanelTileBytesAt(global::QuantPS.Kernels.VectorWidth width, int flush) =>
                PanelTileBytesByFlush[global::System.Array.IndexOf(new[] { {{string.Join(", ", Flushes.Select(flush => Width.Text(flush)))}} }, flush)][global::QuantPS.Kernels.KernelWidth.Index(width)];

            """);
    }

    private const string ByteSignature = "(long blocks, int* panel, sbyte* activations, long activationStride, int bias, float* results, long resultStride)";

    private static readonly string ByteScalar = $$"""
        /// <summary>
        /// The byte kernels' reference, four lanes like V128: results[t * resultStride + r] = sum over blocks of
        /// (sum of (byte - bias) * activation) * (weight scale * activation scale), activation rows activationStride bytes apart.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void PanelTileBytesScalar{{ByteSignature}}
        {
            const int lanes = 4;
            for (long t = 0; t < Tokens; t++)
            {
                sbyte* a = activations + t * activationStride;
                float* scales = (float*)(a + blocks * BlockSize);
                for (int r = 0; r < lanes; r++)
                {
                    float sum = 0f;
                    for (long b = 0; b < blocks; b++)
                    {
                        int* block = panel + b * ByteBlockInts * lanes;
                        sbyte* x = a + b * BlockSize;
                        int isum = 0;
                        for (int g = 0; g < {{ByteGroups}}; g++)
                        {
                            uint quad = (uint)block[g * lanes + r];
                            for (int j = 0; j < 4; j++)
                            {
                                isum += ((int)((quad >> (8 * j)) & 0xFF) - bias) * x[4 * g + j];
                            }
                        }

                        sum += isum * (((float*)(block + {{ByteGroups}} * lanes))[r] * scales[b]);
                    }

                    results[t * resultStride + r] = sum;
                }
            }
        }

        """;

    // pmaddubsw where the width is accelerated; the portable form multiplies the same adjacent byte pairs (exact here:
    // the kernels' ranges never saturate).
    private static readonly string BytePairs = string.Join("\n", new[] { (Width.V128, "Ssse3"), (Width.V256, "Avx2"), (Width.V512, "Avx512BW") }.Select(p => p.Item1.Fill($$"""
        /// <summary>Int16 lane i: unsigned bytes 2i and 2i + 1 of u times signed bytes 2i and 2i + 1 of s, summed (pmaddubsw).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static $V<short> BytePairs$W($V<int> u, $V<int> s)
        {
            if ({{p.Item2}}.IsSupported)
            {
                return {{p.Item2}}.MultiplyAddAdjacent(u.AsByte(), s.AsSByte());
            }

            var uw = u.AsInt16();
            var sw = s.AsInt16();
            return ((uw & $V.Create((short)0xFF)) * $V.ShiftRightArithmetic(sw << 8, 8)) + ($V.ShiftRightLogical(uw, 8) * $V.ShiftRightArithmetic(sw, 8));
        }

        """))) + "\n";

    private static string ByteVector(int flush)
    {
        const int TokenCount = Tokens;
        var tokens = Enumerable.Range(0, TokenCount).ToList();
        var text = new StringBuilder();
        text.AppendLine($"/// <summary>PanelTileBytesScalar's results for $L panel rows, {Width.Text(flush)} units summed in int16 before widening.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine($"public static void PanelTileBytesF{Width.Text(flush)}$W" + ByteSignature);
        text.AppendLine("{");
        text.AppendLine("    var ones = $V.Create(0x00010001);");
        foreach (var t in tokens)
        {
            text.AppendLine($"    int* a{t} = (int*)(activations + {t} * activationStride);");
            text.AppendLine($"    float* s{t} = (float*)(activations + {t} * activationStride + blocks * BlockSize);");
            text.AppendLine($"    int* c{t} = (int*)(s{t} + blocks);");
            text.AppendLine($"    var sum{t} = $V<float>.Zero;");
        }

        text.AppendLine("    for (long b = 0; b < blocks; b++, panel += ByteBlockInts * $L)");
        text.AppendLine("    {");
        foreach (var t in tokens)
        {
            text.AppendLine($"        var i{t} = $V.Create(-bias * c{t}[b]);");
        }

        for (var g = 0; g < ByteGroups; g++)
        {
            text.AppendLine($"        var w{g} = $V.Load(panel + {g} * $L);");
            foreach (var t in tokens)
            {
                var product = $"BytePairs$W(w{g}, $V.Create(a{t}[{g}]))";
                text.AppendLine(g % flush == 0 ? $"        var h{t}_{g / flush} = {product};" : $"        h{t}_{g / flush} += {product};");
            }

            if (g % flush == flush - 1)
            {
                foreach (var t in tokens)
                {
                    text.AppendLine($"        i{t} += Pairs$W(h{t}_{g / flush}.AsInt32(), ones);");
                }
            }
        }

        text.AppendLine("        var d = $V.Load((float*)(panel + " + Width.Text(ByteGroups) + " * $L));");
        foreach (var t in tokens)
        {
            text.AppendLine($"        sum{t} += $V.ConvertToSingle(i{t}) * (d * $V.Create(s{t}[b]));");
            text.AppendLine($"        a{t} += {Width.Text(ByteGroups)};");
        }

        text.AppendLine("    }");
        text.AppendLine();
        EmitStores(text, tokens);
        return text.ToString();
    }
}
