using System.Linq;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// F32's two small float matrix kernels.
/// <list type="bullet">
/// <item>DotTile: four weight rows against four activation rows, sixteen dot products from one pass over the rows.
/// Matrix-matrix products over float-like weights (F32, F16, BF16) decode a tile of weight rows to floats once and run
/// this on it, so each weight is converted once per product instead of once per activation row, and each loaded
/// vector feeds four multiply-adds. Every result is the same computation whatever its place in the tile (one
/// accumulator over the vector-aligned part, its lane sum, then the tail in order), so a product does not depend on
/// how it is tiled.</item>
/// <item>OuterTile: C (four rows of four vectors) += A (four rows) times B, each A value broadcast against a row of B;
/// no lane sums, each C element one fused multiply-add chain in order. Attention's batched path uses it for the
/// scores (queries times the keys as columns) and the value sums (weights times the value rows).</item>
/// </list>
/// </summary>
internal static class FloatTileEmitter
{
    private const int Rows = 4;

    public static void Emit(SourceWriter writer)
    {
        writer.Lines(Scalar);
        writer.Lines(OuterScalar);
        foreach (var width in Width.All)
        {
            writer.Lines(width.Fill(Vector(width)));
            writer.Lines(width.Fill(Outer()));
        }

        writer
            .Line("private static readonly global::QuantPS.Kernels.FloatTileKernel[] DotTileByWidth = { DotTileScalar, DotTileV128, DotTileV256, DotTileV512 };")
            .Line()
            .Line("/// <summary>The DotTile kernel instantiated at <paramref name=\"width\"/>.</summary>")
            .Line("public static global::QuantPS.Kernels.FloatTileKernel DotTileAt(global::QuantPS.Kernels.VectorWidth width) => DotTileByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>The DotTile kernel at <see cref=\"global::QuantPS.Kernels.KernelWidth.Active\"/>.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.FloatTileKernel DotTile = DotTileAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line()
            .Line("private static readonly global::QuantPS.Kernels.FloatOuterTileKernel[] OuterTileByWidth = { OuterTileScalar, OuterTileV128, OuterTileV256, OuterTileV512 };")
            .Line()
            .Line("private static readonly int[] OuterTileColumnsByWidth = { 16, 16, 32, 64 };")
            .Line()
            .Line("/// <summary>The OuterTile kernel instantiated at <paramref name=\"width\"/>.</summary>")
            .Line("public static global::QuantPS.Kernels.FloatOuterTileKernel OuterTileAt(global::QuantPS.Kernels.VectorWidth width) => OuterTileByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>Columns of C one OuterTile call at <paramref name=\"width\"/> covers (four vectors; 16 for the scalar one).</summary>")
            .Line("public static int OuterTileColumnsAt(global::QuantPS.Kernels.VectorWidth width) => OuterTileColumnsByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>The OuterTile kernel at <see cref=\"global::QuantPS.Kernels.KernelWidth.Active\"/>.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.FloatOuterTileKernel OuterTile = OuterTileAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line()
            .Line("/// <summary>Columns one <see cref=\"OuterTile\"/> call covers.</summary>")
            .Line("public static readonly int OuterTileColumns = OuterTileColumnsAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line();
    }

    private const string OuterScalar = """
        /// <summary>Four rows of C (16 columns) += four rows of A times B: c[r * cStride + j] += sum over i of a[r * aStride + i] * b[i * bStride + j], i in order, each step one fused multiply-add.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void OuterTileScalar(long count, float* a, long aStride, float* b, long bStride, float* c, long cStride)
        {
            for (long r = 0; r < 4; r++)
            {
                for (long j = 0; j < 16; j++)
                {
                    var sum = c[r * cStride + j];
                    for (long i = 0; i < count; i++)
                    {
                        sum = MathF.FusedMultiplyAdd(a[r * aStride + i], b[i * bStride + j], sum);
                    }

                    c[r * cStride + j] = sum;
                }
            }
        }

        """;

    // C (4 rows x 4 vectors) += A (4 rows x count) times B (count rows x 4 vectors): each A value broadcast against a
    // row of B. No lane sums: every C element is its own chain of fused multiply-adds over i in order.
    private static string Outer()
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine("/// <summary>Four rows of C (4 x $L columns) += four rows of A times B: c[r * cStride + j] += sum over i of a[r * aStride + i] * b[i * bStride + j], i in order.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine("public static void OuterTile$W(long count, float* a, long aStride, float* b, long bStride, float* c, long cStride)");
        text.AppendLine("{");
        foreach (var r in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"    float* a{r} = a + {r} * aStride;");
            foreach (var v in Enumerable.Range(0, Rows))
            {
                text.AppendLine($"    var c{r}{v} = $V.Load(c + {r} * cStride + {v} * $L);");
            }
        }

        text.AppendLine("    for (long i = 0; i < count; i++)");
        text.AppendLine("    {");
        text.AppendLine("        float* row = b + i * bStride;");
        foreach (var v in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"        var b{v} = $V.Load(row + {v} * $L);");
        }

        foreach (var r in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"        var x{r} = $V.Create(a{r}[i]);");
            foreach (var v in Enumerable.Range(0, Rows))
            {
                text.AppendLine($"        c{r}{v} = Simd.MultiplyAdd(x{r}, b{v}, c{r}{v});");
            }
        }

        text.AppendLine("    }");
        text.AppendLine();
        foreach (var r in Enumerable.Range(0, Rows))
        {
            foreach (var v in Enumerable.Range(0, Rows))
            {
                text.AppendLine($"    c{r}{v}.Store(c + {r} * cStride + {v} * $L);");
            }
        }

        text.AppendLine("}");
        text.AppendLine();
        return text.ToString();
    }

    private const string Signature =
        "public static void DotTile$W(long count, float* weights, long weightStride, float* activations, long activationStride, float* results, long resultStride)";

    private static readonly string Scalar = """
        /// <summary>Four float weight rows against four float activation rows: results[a * resultStride + r] = dot(weight r, activation a).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void DotTileScalar(long count, float* weights, long weightStride, float* activations, long activationStride, float* results, long resultStride)
        {
            for (long a = 0; a < 4; a++)
            {
                for (long r = 0; r < 4; r++)
                {
                    results[a * resultStride + r] = DotScalar(count, (byte*)(weights + r * weightStride), (byte*)(activations + a * activationStride));
                }
            }
        }

        """;

    private static string Vector(Width width)
    {
        var pairs = Enumerable.Range(0, Rows).SelectMany(a => Enumerable.Range(0, Rows).Select(r => (a, r))).ToList();
        var text = new System.Text.StringBuilder();
        text.AppendLine("/// <summary>Four float weight rows against four float activation rows, $L floats per step: results[a * resultStride + r] = dot(weight r, activation a).</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine(Signature);
        text.AppendLine("{");
        foreach (var r in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"    float* w{r} = weights + {r} * weightStride;");
            text.AppendLine($"    float* a{r} = activations + {r} * activationStride;");
        }

        foreach (var (a, r) in pairs)
        {
            text.AppendLine($"    var c{a}{r} = $V<float>.Zero;");
        }

        text.AppendLine("    long i = 0;");
        text.AppendLine("    for (; i + $L <= count; i += $L)");
        text.AppendLine("    {");
        foreach (var r in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"        var x{r} = $V.Load(w{r} + i);");
        }

        foreach (var a in Enumerable.Range(0, Rows))
        {
            text.AppendLine($"        var y{a} = $V.Load(a{a} + i);");
            foreach (var r in Enumerable.Range(0, Rows))
            {
                text.AppendLine($"        c{a}{r} = Simd.MultiplyAdd(x{r}, y{a}, c{a}{r});");
            }
        }

        text.AppendLine("    }");
        text.AppendLine();
        if (width == Width.V512)
        {
            // The sixteen lane sums at once, each exactly as Vector512.Sum adds it ((e0 + e1) + (e2 + e3) within a 128-bit
            // lane, then (L0 + L1) + (L2 + L3) across them): float shuffles pair the elements, then a 4 x 4 transpose of
            // 128-bit lanes lines the lanes up, leaving accumulator 4a + r's sum in lane 4a + r, in about 50 operations
            // where sixteen Vector512.Sum calls take about 400. Same bits, so greedy output does not move.
            const string X86 = "global::System.Runtime.Intrinsics.X86.Avx512F.";
            text.AppendLine($"    if ({X86}IsSupported)");
            text.AppendLine("    {");
            for (var k = 0; k < 8; k++)
            {
                var (x, y) = ($"c{(2 * k) / Rows}{(2 * k) % Rows}", $"c{((2 * k) + 1) / Rows}{((2 * k) + 1) % Rows}");
                text.AppendLine($"        var s{k} = {X86}Shuffle({x}, {y}, 0x88) + {X86}Shuffle({x}, {y}, 0xDD);");
            }

            for (var k = 0; k < 4; k++)
            {
                text.AppendLine($"        var d{k} = {X86}Shuffle(s{2 * k}, s{(2 * k) + 1}, 0x88) + {X86}Shuffle(s{2 * k}, s{(2 * k) + 1}, 0xDD);");
            }

            text.AppendLine($"        var x0 = {X86}Shuffle4x128(d0, d1, 0x88);");
            text.AppendLine($"        var x1 = {X86}Shuffle4x128(d0, d1, 0xDD);");
            text.AppendLine($"        var x2 = {X86}Shuffle4x128(d2, d3, 0x88);");
            text.AppendLine($"        var x3 = {X86}Shuffle4x128(d2, d3, 0xDD);");
            text.AppendLine($"        var sums = ({X86}Shuffle4x128(x0, x2, 0x88) + {X86}Shuffle4x128(x1, x3, 0x88)) + ({X86}Shuffle4x128(x0, x2, 0xDD) + {X86}Shuffle4x128(x1, x3, 0xDD));");
            foreach (var (a, r) in pairs)
            {
                text.AppendLine($"        results[{a} * resultStride + {r}] = TileTail(sums.GetElement({(a * Rows) + r}), w{r}, a{a}, i, count);");
            }

            text.AppendLine("        return;");
            text.AppendLine("    }");
            text.AppendLine();
        }

        foreach (var (a, r) in pairs)
        {
            text.AppendLine($"    results[{a} * resultStride + {r}] = TileTail($V.Sum(c{a}{r}), w{r}, a{a}, i, count);");
        }

        text.AppendLine("}");
        text.AppendLine();
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
        text.AppendLine("private static float TileTail$W(float sum, float* w, float* a, long i, long count)");
        text.AppendLine("{");
        text.AppendLine("    for (; i < count; i++)");
        text.AppendLine("    {");
        text.AppendLine("        sum += w[i] * a[i];");
        text.AppendLine("    }");
        text.AppendLine();
        text.AppendLine("    return sum;");
        text.AppendLine("}");
        text.AppendLine();
        return text.ToString().Replace("TileTail(", "TileTail$W(");
    }
}
