using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// IntegerPanelKernels: the matrix-matrix kernels over weight panels. This file: the int16 kernel for weight types whose
/// blocks are 32 integers and one float scale (Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4: each type's DecodeIntegers gives those)
/// against activations of the same shape. The byte panels (narrow ranges), the K-quants' super-panels and byte
/// super-panels, and the packers that fill all of them are in the other IntegerPanelEmitter files.
/// <para>
/// The single-row dot products keep a block's 32 weights across a vector's lanes, so every block ends in a lane sum
/// and a scale broadcast, which is most of their work. Here a vector's lanes are weight rows instead: a thread decodes
/// a panel of rows once into int16 pairs, row-interleaved (lane r of pair group g holds weights 2g and 2g + 1 of row r),
/// and each pair of activation values is broadcast against all of them with pmaddwd. A block then ends with one
/// convert, one multiply by the rows' scales times the activation's scale, and one add, for all rows at once.
/// </para>
/// <para>
/// Panel layout, per block of 32: 16 pair groups of Lanes int32, then Lanes float scales (17 x Lanes int32).
/// Activation row layout: its k values as int16, then one float scale per block.
/// Each result is the single-row scalar dot product's sequence exactly (sum += isum * (weightScale * activationScale),
/// block by block), so it does not depend on the width, the tiling or the thread count.
/// </para>
/// </summary>
internal static partial class IntegerPanelEmitter
{
    public const string HintName = "QuantPS.Kernels.IntegerPanelKernels.g.cs";

    /// <summary>Activation rows one call multiplies.</summary>
    private const int Tokens = 4;

    private const int Groups = 16;

    /// <summary>
    /// The integers a 32-value block of <paramref name="model"/> decodes to: its codebook's span, or its quants'
    /// (with high-bit planes, plus Offset).
    /// </summary>
    public static (int Min, int Max) Range(KernelModel model)
    {
        if (model.Scheme == "Codebook")
        {
            return (model.Codebook.Min(), model.Codebook.Max());
        }

        var quants = model.Layout.Find(FieldKind.Quants)!;
        var bits = quants.Bits + model.Layout.Fields.Where(field => field.Kind == FieldKind.HighBits).Sum(field => field.Bits);
        return quants.Signed ? (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) : (model.Offset, model.Offset + (1 << bits) - 1);
    }

    public static string Emit()
    {
        var writer = KernelSupportEmitter.StartFile();
        using (writer.Block("namespace QuantPS.Kernels.Generated"))
        {
            writer
                .Line("/// <summary>Weight panels of 32-integer blocks (row-interleaved int16 pairs) against int16 activation rows; see IntegerPanelEmitter.</summary>")
                .Line("[global::System.CodeDom.Compiler.GeneratedCode(\"QuantPS.Generators\", \"1.0\")]");
            using (writer.Block("public static unsafe class IntegerPanelKernels"))
            {
                writer
                    .Line("/// <summary>Activation rows one panel call multiplies.</summary>")
                    .Line($"public const int Tokens = {Width.Text(Tokens)};")
                    .Line()
                    .Line("/// <summary>Values per block (weights and activations alike).</summary>")
                    .Line("public const int BlockSize = 32;")
                    .Line()
                    .Line("/// <summary>Int32 per block of a panel, per lane: 16 pair groups and the scale.</summary>")
                    .Line($"public const int BlockInts = {Width.Text(Groups + 1)};")
                    .Line();
                writer.Lines(Scalar);
                writer.Lines(Pairs);
                foreach (var width in Width.All)
                {
                    writer.Lines(width.Fill(Vector()));
                }

                EmitBytes(writer);
                EmitSuper(writer);
                EmitSuperBytes(writer);
                EmitPacking(writer);
                writer.Lines(Dispatch);
            }
        }

        return writer.ToString();
    }

    private const string Signature = "(long blocks, int* panel, short* activations, long activationStride, float* results, long resultStride)";

    private static readonly string Scalar = $$"""
        /// <summary>
        /// The reference, four lanes like V128: results[t * resultStride + r] = sum over blocks of isum * (weight scale * activation scale),
        /// for panel rows r &lt; 4 and activation rows t &lt; Tokens (activationStride int16 apart).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void PanelTileScalar{{Signature}}
        {
            const int lanes = 4;
            for (long t = 0; t < Tokens; t++)
            {
                short* a = activations + t * activationStride;
                float* scales = (float*)(a + blocks * BlockSize);
                for (int r = 0; r < lanes; r++)
                {
                    float sum = 0f;
                    for (long b = 0; b < blocks; b++)
                    {
                        int* block = panel + b * BlockInts * lanes;
                        short* x = a + b * BlockSize;
                        int isum = 0;
                        for (int g = 0; g < {{Groups}}; g++)
                        {
                            int pair = block[g * lanes + r];
                            isum += (short)pair * x[2 * g] + (pair >> 16) * x[2 * g + 1];
                        }

                        sum += isum * (((float*)(block + {{Groups}} * lanes))[r] * scales[b]);
                    }

                    results[t * resultStride + r] = sum;
                }
            }
        }

        """;

    // pmaddwd where the width is accelerated; the portable form pairs the same (adjacent) int16 lanes.
    private static readonly string Pairs = string.Join("\n", new[] { (Width.V128, "Sse2"), (Width.V256, "Avx2"), (Width.V512, "Avx512BW") }.Select(p => p.Item1.Fill($$"""
        /// <summary>Lane i: the products of int16 lanes 2i and 2i + 1 of a and b, summed (pmaddwd).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static $V<int> Pairs$W($V<int> a, $V<int> b)
        {
            if ({{p.Item2}}.IsSupported)
            {
                return {{p.Item2}}.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16());
            }

            return ($V.ShiftRightArithmetic(a << 16, 16) * $V.ShiftRightArithmetic(b << 16, 16)) + ($V.ShiftRightArithmetic(a, 16) * $V.ShiftRightArithmetic(b, 16));
        }

        """))) + "\n";

    private static string Vector()
    {
        var tokens = Enumerable.Range(0, Tokens).ToList();
        var text = new System.Text.StringBuilder();
        text.AppendLine("/// <summary>PanelTileScalar's results for $L panel rows, one vector of lanes, each activation pair broadcast against all of them.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine("public static void PanelTile$W" + Signature);
        text.AppendLine("{");
        foreach (var t in tokens)
        {
            text.AppendLine($"    int* a{t} = (int*)(activations + {t} * activationStride);");
            text.AppendLine($"    float* s{t} = (float*)(activations + {t} * activationStride + blocks * BlockSize);");
            text.AppendLine($"    var sum{t} = $V<float>.Zero;");
        }

        text.AppendLine("    for (long b = 0; b < blocks; b++, panel += BlockInts * $L)");
        text.AppendLine("    {");
        foreach (var t in tokens)
        {
            text.AppendLine($"        var i{t} = $V<int>.Zero;");
        }

        for (var g = 0; g < Groups; g++)
        {
            text.AppendLine($"        var w{g} = $V.Load(panel + {g} * $L);");
            foreach (var t in tokens)
            {
                text.AppendLine($"        i{t} += Pairs$W(w{g}, $V.Create(a{t}[{g}]));");
            }
        }

        text.AppendLine("        var d = $V.Load((float*)(panel + " + Width.Text(Groups) + " * $L));");
        foreach (var t in tokens)
        {
            text.AppendLine($"        sum{t} += $V.ConvertToSingle(i{t}) * (d * $V.Create(s{t}[b]));");
            text.AppendLine($"        a{t} += {Width.Text(Groups)};");
        }

        text.AppendLine("    }");
        text.AppendLine();
        EmitStores(text, tokens);
        return text.ToString();
    }

    // A panel kernel's end: each activation row's sums stored to its row of results, and the method closed.
    private static void EmitStores(System.Text.StringBuilder text, System.Collections.Generic.IEnumerable<int> tokens)
    {
        foreach (var t in tokens)
        {
            text.AppendLine($"    sum{t}.Store(results + {t} * resultStride);");
        }

        text.AppendLine("}");
        text.AppendLine();
    }

    // The min pair units of a super-block (unit index first on), against each activation row's sub-block sums c{t}: n{t}.
    private static void EmitMinUnits(System.Text.StringBuilder text, System.Collections.Generic.IEnumerable<int> tokens, int first, int minUnits)
    {
        for (var g = 0; g < minUnits; g++)
        {
            text.AppendLine($"        var m{g} = $V.Load(panel + {Width.Text(first + g)} * $L);");
            foreach (var t in tokens)
            {
                text.AppendLine(g == 0 ? $"        var n{t} = Pairs$W(m{g}, $V.Create(c{t}[{g}]));" : $"        n{t} += Pairs$W(m{g}, $V.Create(c{t}[{g}]));");
            }
        }
    }

    private const string Dispatch = """
        private static readonly global::QuantPS.Kernels.IntegerPanelKernel[] PanelTileByWidth = { PanelTileScalar, PanelTileV128, PanelTileV256, PanelTileV512 };

        private static readonly int[] LanesByWidth = { 4, 4, 8, 16 };

        /// <summary>The PanelTile kernel instantiated at <paramref name="width"/> (any width runs anywhere; unaccelerated ones are emulated).</summary>
        public static global::QuantPS.Kernels.IntegerPanelKernel PanelTileAt(global::QuantPS.Kernels.VectorWidth width) => PanelTileByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>Panel rows (lanes) of the kernels at <paramref name="width"/>: a panel's layout depends on it.</summary>
        public static int LanesAt(global::QuantPS.Kernels.VectorWidth width) => LanesByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>The PanelTile kernel at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static readonly global::QuantPS.Kernels.IntegerPanelKernel PanelTile = PanelTileAt(global::QuantPS.Kernels.KernelWidth.Active);

        /// <summary>Panel rows of <see cref="PanelTile"/>.</summary>
        public static readonly int Lanes = LanesAt(global::QuantPS.Kernels.KernelWidth.Active);

        """;
}
