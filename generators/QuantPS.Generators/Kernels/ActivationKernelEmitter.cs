using System.Globalization;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// ActivationKernels: the feed-forward's gated activations, and attention's softmax step, at every width. SwiGLU is
/// ggml_vec_swiglu_f32 as an AVX-512 build of ggml runs it (the reference builds are such builds): whole groups of 16 values through
/// ggml_v_silu, whose exp is ggml_v_expf (a degree-5 polynomial on a Cody-Waite reduced argument, scaled by 2^n with
/// vscalefps), and the row's last count % 16 values through ggml_silu_f32 with the C library's expf. Every width gives
/// the same bits: the polynomial's multiply-adds are fused at every width (a width without hardware FMA runs the
/// scalar form, where MathF.FusedMultiplyAdd is exact), and scalef's single rounding is two exact power-of-two
/// multiplies, the second of which rounds. SoftMaxRow is ggml_vec_soft_max_f32 of the same build (the tiled flash
/// attention's per-tile step): groups of 16 through ggml_v_expf, each group summed in float in the order GCC's
/// _mm512_reduce_add_ps adds (upper eight lanes onto the lower, then the upper four of those, then lanes two apart,
/// then the last pair) and added to a double; the rest through expf, each added to the double.
/// </summary>
internal static class ActivationKernelEmitter
{
    public const string HintName = "QuantPS.Kernels.ActivationKernels.g.cs";

    // ggml_v_expf's constants as float bits, from ggml's hexadecimal literals (C# has none).
    private static readonly (string Name, uint Bits, string Hex)[] Constants =
    {
        ("Round", 0x4B400000, "0x1.8p23"),
        ("Log2E", 0x3FB8AA3B, "0x1.715476p+0"),
        ("Ln2High", 0x3F317200, "0x1.62e4p-1"),
        ("Ln2Low", 0x35BFBE8E, "0x1.7f7d1cp-20"),
        ("C5", 0x3C072010, "0x1.0e4020p-7"),
        ("C4", 0x3D2B9F17, "0x1.573e2ep-5"),
        ("C3", 0x3E2AAF33, "0x1.555e66p-3"),
        ("C2", 0x3EFFFEDB, "0x1.fffdb6p-2"),
        ("C1", 0x3F7FFFF6, "0x1.ffffecp-1"),
    };

    public static string Emit()
    {
        var writer = KernelSupportEmitter.StartFile();
        using (writer.Block("namespace QuantPS.Kernels.Generated"))
        {
            writer
                .Line("/// <summary>Gated activations of the feed-forward, as ggml computes them (see ActivationKernelEmitter).</summary>")
                .Line("public static unsafe class ActivationKernels");
            using (writer.Braces())
            {
                writer.Line("/// <summary>Values ggml_vec_swiglu_f32 takes through its vector loop at once; the rest of a row go through expf.</summary>");
                writer.Line("public const int SwiGluGroup = 16;");
                writer.Line();
                writer.Line("/// <summary>Values ggml_vec_soft_max_f32 takes through its vector loop at once; the rest of a row go through expf.</summary>");
                writer.Line("public const int SoftMaxGroup = 16;");
                writer.Line();
                foreach (var (name, bits, hex) in Constants)
                {
                    // Nine significant digits give the float back exactly.
                    var value = System.BitConverter.ToSingle(System.BitConverter.GetBytes(bits), 0);
                    writer.Line($"private const float {name} = {value.ToString("G9", CultureInfo.InvariantCulture)}f; // {hex}");
                }

                writer.Line();
                writer.Lines(Scalar);
                foreach (var width in Width.All)
                {
                    writer.Lines(width.Fill(Vector));
                }

                writer.Lines(Dispatch);
            }
        }

        return writer.ToString();
    }

    private const string Scalar = """
        /// <summary>ggml_v_expf for one value: the reference the vector widths equal bit for bit.</summary>
        public static float Exp(float x)
        {
            float z = MathF.FusedMultiplyAdd(x, Log2E, Round);
            float n = z - Round;
            float b = MathF.FusedMultiplyAdd(-n, Ln2Low, MathF.FusedMultiplyAdd(-n, Ln2High, x));
            float u = b * b;
            float j = MathF.FusedMultiplyAdd(
                MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
                u,
                MathF.FusedMultiplyAdd(C1, b, 1f));
            if (MathF.Abs(n) > 192f)
            {
                return n > 0f ? float.PositiveInfinity : 0f;
            }

            // vscalefps: j * 2^n rounded once. j is near 1 and |n| <= 192, so j * 2^(n/2) is exact and normal.
            int e = (int)n;
            int half = e >> 1;
            return j * PowerOfTwo(half) * PowerOfTwo(e - half);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float PowerOfTwo(int e) => BitConverter.Int32BitsToSingle((e + 127) << 23);

        /// <summary>gate = silu(gate) * up over one row, ggml_vec_swiglu_f32 in scalar form: the reference for every width.</summary>
        public static void SwiGluRowScalar(float* gate, float* up, long count)
        {
            long whole = count / SwiGluGroup * SwiGluGroup;
            for (long i = 0; i < whole; i++)
            {
                float x = gate[i];
                gate[i] = x / (1f + Exp(0f - x)) * up[i];
            }

            SwiGluTail(gate, up, whole, count);
        }

        // ggml_silu_f32 past the last whole group: expf from the C library (MathF.Exp calls it).
        private static void SwiGluTail(float* gate, float* up, long first, long count)
        {
            for (long i = first; i < count; i++)
            {
                float x = gate[i];
                gate[i] = x / (1f + MathF.Exp(-x)) * up[i];
            }
        }

        /// <summary>
        /// y = exp(x - max) over one row, returning the sum of y in double: ggml_vec_soft_max_f32 in scalar form, the
        /// reference for every width. <paramref name="y"/> may be <paramref name="x"/>.
        /// </summary>
        public static double SoftMaxRowScalar(float* x, float* y, long count, float max)
        {
            double sum = 0;
            long whole = count / SoftMaxGroup * SoftMaxGroup;
            for (long i = 0; i < whole; i += SoftMaxGroup)
            {
                for (long l = 0; l < SoftMaxGroup; l++)
                {
                    y[i + l] = Exp(x[i + l] - max);
                }

                sum += GroupSum(y + i);
            }

            return SoftMaxTail(x, y, whole, count, max, sum);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float GroupSum(float* v) => Simd.SumAsReduceAdd(Vector128.Load(v), Vector128.Load(v + 4), Vector128.Load(v + 8), Vector128.Load(v + 12));

        // ggml_vec_soft_max_f32 past the last whole group: expf from the C library, each value added in double.
        private static double SoftMaxTail(float* x, float* y, long first, long count, float max, double sum)
        {
            for (long i = first; i < count; i++)
            {
                float e = MathF.Exp(x[i] - max);
                y[i] = e;
                sum += e;
            }

            return sum;
        }

        """;

    private const string Vector = """
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static $V<float> Exp($V<float> x)
        {
            var round = $V.Create(Round);
            var z = Simd.MultiplyAdd(x, $V.Create(Log2E), round);
            var n = z - round;
            var b = Simd.MultiplyAdd(-n, $V.Create(Ln2Low), Simd.MultiplyAdd(-n, $V.Create(Ln2High), x));
            var u = b * b;
            var j = Simd.MultiplyAdd(
                Simd.MultiplyAdd(Simd.MultiplyAdd($V.Create(C5), b, $V.Create(C4)), u, Simd.MultiplyAdd($V.Create(C3), b, $V.Create(C2))),
                u,
                Simd.MultiplyAdd($V.Create(C1), b, $V<float>.One));
            var e = $V.ConvertToInt32(n);
            var half = $V.ShiftRightArithmetic(e, 1);
            var bias = $V.Create(127);
            var result = j * $V.ShiftLeft(half + bias, 23).AsSingle() * $V.ShiftLeft(e - half + bias, 23).AsSingle();
            var far = $V.GreaterThan($V.Abs(n), $V.Create(192f));
            if ($V.EqualsAll(far.AsInt32(), $V<int>.Zero))
            {
                return result;
            }

            var limit = $V.ConditionalSelect($V.GreaterThan(n, $V<float>.Zero), $V.Create(float.PositiveInfinity), $V<float>.Zero);
            return $V.ConditionalSelect(far, limit, result);
        }

        /// <summary>gate = silu(gate) * up over one row, $L values a step; without fused multiply-adds at this width, the scalar form.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void SwiGluRow$W(float* gate, float* up, long count)
        {
            if (!($FMA))
            {
                SwiGluRowScalar(gate, up, count);
                return;
            }

            long whole = count / SwiGluGroup * SwiGluGroup;
            for (long i = 0; i < whole; i += $L)
            {
                var x = $V.Load(gate + i);
                (x / ($V<float>.One + Exp($V<float>.Zero - x)) * $V.Load(up + i)).Store(gate + i);
            }

            SwiGluTail(gate, up, whole, count);
        }

        /// <summary>y = exp(x - max) over one row and its sum in double, $L values a step; without fused multiply-adds at this width, the scalar form.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static double SoftMaxRow$W(float* x, float* y, long count, float max)
        {
            if (!($FMA))
            {
                return SoftMaxRowScalar(x, y, count, max);
            }

            double sum = 0;
            var m = $V.Create(max);
            long whole = count / SoftMaxGroup * SoftMaxGroup;
            for (long i = 0; i < whole; i += SoftMaxGroup)
            {
                for (long l = 0; l < SoftMaxGroup; l += $L)
                {
                    Exp($V.Load(x + i + l) - m).Store(y + i + l);
                }

                sum += GroupSum(y + i);
            }

            return SoftMaxTail(x, y, whole, count, max, sum);
        }

        """;

    private const string Dispatch = """
        private static readonly global::QuantPS.Kernels.GatedActivationKernel[] SwiGluByWidth = { SwiGluRowScalar, SwiGluRowV128, SwiGluRowV256, SwiGluRowV512 };

        /// <summary>The SwiGLU kernel instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.GatedActivationKernel SwiGluAt(global::QuantPS.Kernels.VectorWidth width) => SwiGluByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>The SwiGLU kernel at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static readonly global::QuantPS.Kernels.GatedActivationKernel SwiGlu = SwiGluAt(global::QuantPS.Kernels.KernelWidth.Active);

        private static readonly global::QuantPS.Kernels.SoftMaxKernel[] SoftMaxByWidth = { SoftMaxRowScalar, SoftMaxRowV128, SoftMaxRowV256, SoftMaxRowV512 };

        /// <summary>The SoftMaxRow kernel instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.SoftMaxKernel SoftMaxAt(global::QuantPS.Kernels.VectorWidth width) => SoftMaxByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>The SoftMaxRow kernel at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static readonly global::QuantPS.Kernels.SoftMaxKernel SoftMax = SoftMaxAt(global::QuantPS.Kernels.KernelWidth.Active);
        """;
}
