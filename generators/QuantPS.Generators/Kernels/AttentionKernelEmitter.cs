namespace QuantPS.Generators.Kernels;

/// <summary>
/// AttentionKernels: the per-key steps of ggml's one-chunk flash attention over an F16 cache, at every width, on F16
/// values held as floats (keys and values widened once per cached position and shared by a GQA group's heads; the V
/// sum kept F16-rounded). Each is the arithmetic of an AVX-512 build of ggml (F16 step 64, 16 lanes, no AVX512-FP16):
/// <list type="bullet">
/// <item>KeyDotF16 is ggml_vec_dot_f16: four 16-lane accumulators of fused multiply-adds over each step of 64, added
/// as (0 + 2) + (1 + 3), the 16 lanes summed in _mm512_reduce_add_ps's order (GCC: lanes i + 8, then i + 4, then
/// i + 2, then the pair), then the values past the last whole step added in double.</item>
/// <item>MadRoundF16 is ggml_vec_mad_f16 (acc = F16(fma(value, factor, acc)), each value on its own) and ScaleRoundF16
/// ggml_vec_scale_f16 (acc = F16(acc x factor)); MadF32 is ggml_vec_mad_f32 (acc = fma(value, factor, acc)), the V sum
/// over an F32 or quantized cache.</item>
/// </list>
/// Every width gives the scalar form's bits: the sums are lane for lane the same and the F16 rounding is exact. The
/// active width's three are called directly (no delegate), and PrefetchRow fetches the cache rows the walk reads next.
/// </summary>
internal static class AttentionKernelEmitter
{
    public const string HintName = "QuantPS.Kernels.AttentionKernels.g.cs";

    public static string Emit()
    {
        var writer = KernelSupportEmitter.StartFile();
        using (writer.Block("namespace QuantPS.Kernels.Generated"))
        {
            writer
                .Line("/// <summary>ggml's one-chunk attention steps over an F16 cache, as ggml computes them (see AttentionKernelEmitter).</summary>")
                .Line("public static unsafe class AttentionKernels");
            using (writer.Braces())
            {
                writer.Lines(Scalar);
                foreach (var width in Width.All)
                {
                    EmitKeyDot(writer, width);
                    writer.Lines(width.Fill(Vector));
                }

                writer.Lines(Dispatch);
            }
        }

        return writer.ToString();
    }

    private const string Scalar = """
        /// <summary>Values per step of ggml_vec_dot_f16 (four accumulators of 16 lanes); the rest are added in double.</summary>
        public const int DotStep = 64;

        /// <summary>
        /// Asks for the cache lines of <paramref name="bytes"/> bytes from <paramref name="row"/> ahead of their use: the
        /// one-chunk walk reads one head's short row per cached position, strided by the whole cache row, and waited on
        /// memory for each (the widening was 1.4 % of 1-thread generation).
        /// </summary>
        public static void PrefetchRow(byte* row, long bytes)
        {
            for (long offset = 0; offset < bytes; offset += 64)
            {
                Simd.Prefetch(row + offset);
            }
        }

        /// <summary>x rounded to the nearest F16 value (ties to even, overflow to infinity), as a float: ggml's conversion there and back.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float RoundToHalf(float x) => global::QuantPS.Kernels.FloatConversions.HalfToSingle(global::QuantPS.Kernels.FloatConversions.SingleToHalf(x));

        /// <summary>destination = each source value rounded to F16, as a float (ggml's conversion there and back): the reference for every width.</summary>
        public static void RoundToHalfRowScalar(float* source, float* destination, long count) => RoundToHalfTail(source, destination, 0, count);

        private static void RoundToHalfTail(float* source, float* destination, long first, long count)
        {
            for (long i = first; i < count; i++)
            {
                destination[i] = RoundToHalf(source[i]);
            }
        }

        /// <summary>ggml_vec_dot_f16 over F16 values held as floats, in scalar form: the reference for every width.</summary>
        public static float KeyDotF16Scalar(long count, float* key, float* query)
        {
            long whole = count / DotStep * DotStep;
            var lanes = stackalloc float[DotStep];
            new Span<float>(lanes, DotStep).Clear();
            for (long i = 0; i < whole; i += DotStep)
            {
                for (long l = 0; l < DotStep; l++)
                {
                    lanes[l] = MathF.FusedMultiplyAdd(key[i + l], query[i + l], lanes[l]);
                }
            }

            return KeyDotTail(key, query, whole, count, ReduceLanes(lanes));
        }

        // The four accumulators' lanes as (0 + 2) + (1 + 3), then those 16 lanes as _mm512_reduce_add_ps adds them.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static double ReduceLanes(float* lanes)
        {
            Vector128<float> Lane(int first) =>
                (Vector128.Load(lanes + first) + Vector128.Load(lanes + first + 32)) + (Vector128.Load(lanes + first + 16) + Vector128.Load(lanes + first + 48));
            return Simd.SumAsReduceAdd(Lane(0), Lane(4), Lane(8), Lane(12));
        }

        // ggml_vec_dot_f16's leftovers: each product rounded to float, added in double.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static float KeyDotTail(float* key, float* query, long first, long count, double sum)
        {
            for (long i = first; i < count; i++)
            {
                sum += key[i] * query[i];
            }

            return (float)sum;
        }

        /// <summary>acc = F16(fma(value, factor, acc)) for each of count values, in scalar form: the reference for every width.</summary>
        public static void MadRoundF16Scalar(long count, float* acc, float* value, float factor) => MadRoundTail(acc, value, factor, 0, count);

        private static void MadRoundTail(float* acc, float* value, float factor, long first, long count)
        {
            for (long i = first; i < count; i++)
            {
                acc[i] = RoundToHalf(MathF.FusedMultiplyAdd(value[i], factor, acc[i]));
            }
        }

        /// <summary>acc = fma(value, factor, acc) for each of count values (ggml_vec_mad_f32: an F32 or quantized cache's V sum), in scalar form: the reference for every width.</summary>
        public static void MadF32Scalar(long count, float* acc, float* value, float factor) => MadTail(acc, value, factor, 0, count);

        private static void MadTail(float* acc, float* value, float factor, long first, long count)
        {
            for (long i = first; i < count; i++)
            {
                acc[i] = MathF.FusedMultiplyAdd(value[i], factor, acc[i]);
            }
        }

        /// <summary>acc = F16(acc x factor) for each of count values, in scalar form: the reference for every width.</summary>
        public static void ScaleRoundF16Scalar(long count, float* acc, float factor) => ScaleRoundTail(acc, factor, 0, count);

        private static void ScaleRoundTail(float* acc, float factor, long first, long count)
        {
            for (long i = first; i < count; i++)
            {
                acc[i] = RoundToHalf(acc[i] * factor);
            }
        }

        """;

    private const string Vector = """
        /// <summary>acc = F16(fma(value, factor, acc)), $L values a step; without fused multiply-adds at this width, the scalar form.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void MadRoundF16$W(long count, float* acc, float* value, float factor)
        {
            if (!($FMA))
            {
                MadRoundF16Scalar(count, acc, value, factor);
                return;
            }

            var f = $V.Create(factor);
            long i = 0;
            for (; i + $L <= count; i += $L)
            {
                Simd.RoundToHalf(Simd.MultiplyAdd($V.Load(value + i), f, $V.Load(acc + i))).Store(acc + i);
            }

            MadRoundTail(acc, value, factor, i, count);
        }

        /// <summary>acc = fma(value, factor, acc), $L values a step; without fused multiply-adds at this width, the scalar form.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void MadF32$W(long count, float* acc, float* value, float factor)
        {
            if (!($FMA))
            {
                MadF32Scalar(count, acc, value, factor);
                return;
            }

            var f = $V.Create(factor);
            long i = 0;
            for (; i + $L <= count; i += $L)
            {
                Simd.MultiplyAdd($V.Load(value + i), f, $V.Load(acc + i)).Store(acc + i);
            }

            MadTail(acc, value, factor, i, count);
        }

        /// <summary>destination = each source value rounded to F16, $L values a step (destination may be source).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void RoundToHalfRow$W(float* source, float* destination, long count)
        {
            long i = 0;
            for (; i + $L <= count; i += $L)
            {
                Simd.RoundToHalf($V.Load(source + i)).Store(destination + i);
            }

            RoundToHalfTail(source, destination, i, count);
        }

        /// <summary>acc = F16(acc x factor), $L values a step.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void ScaleRoundF16$W(long count, float* acc, float factor)
        {
            var f = $V.Create(factor);
            long i = 0;
            for (; i + $L <= count; i += $L)
            {
                Simd.RoundToHalf($V.Load(acc + i) * f).Store(acc + i);
            }

            ScaleRoundTail(acc, factor, i, count);
        }

        """;

    /// <summary>
    /// KeyDotF16 at <paramref name="width"/>: the 64 lanes of ggml's four 16-lane accumulators held in registers
    /// (64 / lanes of them), then added and reduced in the scalar form's order. (Lanes in a stack buffer, loaded and
    /// stored around each multiply-add, made a key of 64 cost ~29 ns; attention calls it once per cached key and head.)
    /// </summary>
    private static void EmitKeyDot(SourceWriter writer, Width width)
    {
        var parts = 16 / width.Floats; // vectors per 16-lane accumulator
        writer
            .Line($"/// <summary>ggml_vec_dot_f16 over F16 values held as floats, {Width.Text(width.Floats)} lanes at a time; without fused multiply-adds at this width, the scalar form.</summary>")
            .Line("[MethodImpl(MethodImplOptions.AggressiveOptimization)]")
            .Line($"public static float KeyDotF16{width.Suffix}(long count, float* key, float* query)");
        using (writer.Braces())
        {
            writer.Line($"if (!({width.FmaSupported}))");
            using (writer.Braces())
            {
                writer.Line("return KeyDotF16Scalar(count, key, query);");
            }

            writer.Line().Line("long whole = count / DotStep * DotStep;");
            for (var a = 0; a < 4; a++)
            {
                for (var p = 0; p < parts; p++)
                {
                    writer.Line($"var s{a}_{p} = {width.Vec}<float>.Zero;");
                }
            }

            writer.Line("for (long i = 0; i < whole; i += DotStep)");
            using (writer.Braces())
            {
                for (var a = 0; a < 4; a++)
                {
                    for (var p = 0; p < parts; p++)
                    {
                        var at = Width.Text((16 * a) + (width.Floats * p));
                        writer.Line($"s{a}_{p} = Simd.MultiplyAdd({width.Vec}.Load(key + i + {at}), {width.Vec}.Load(query + i + {at}), s{a}_{p});");
                    }
                }
            }

            writer.Line();

            // (0 + 2) + (1 + 3), then the 16 lanes as four quarters of four for SumAsReduceAdd.
            for (var p = 0; p < parts; p++)
            {
                writer.Line($"var t{p} = (s0_{p} + s2_{p}) + (s1_{p} + s3_{p});");
            }

            var quarters = width.Floats switch
            {
                16 => new[] { "t0.GetLower().GetLower()", "t0.GetLower().GetUpper()", "t0.GetUpper().GetLower()", "t0.GetUpper().GetUpper()" },
                8 => new[] { "t0.GetLower()", "t0.GetUpper()", "t1.GetLower()", "t1.GetUpper()" },
                _ => new[] { "t0", "t1", "t2", "t3" },
            };
            writer.Line($"return KeyDotTail(key, query, whole, count, Simd.SumAsReduceAdd({string.Join(", ", quarters)}));");
        }

        writer.Line();
    }

    private const string Dispatch = """
        private static readonly global::QuantPS.Kernels.KeyDotKernel[] KeyDotByWidth = { KeyDotF16Scalar, KeyDotF16V128, KeyDotF16V256, KeyDotF16V512 };
        private static readonly global::QuantPS.Kernels.MadRoundKernel[] MadRoundByWidth = { MadRoundF16Scalar, MadRoundF16V128, MadRoundF16V256, MadRoundF16V512 };
        private static readonly global::QuantPS.Kernels.MadRoundKernel[] MadByWidth = { MadF32Scalar, MadF32V128, MadF32V256, MadF32V512 };
        private static readonly global::QuantPS.Kernels.ScaleRoundKernel[] ScaleRoundByWidth = { ScaleRoundF16Scalar, ScaleRoundF16V128, ScaleRoundF16V256, ScaleRoundF16V512 };

        /// <summary>KeyDotF16 instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.KeyDotKernel KeyDotF16At(global::QuantPS.Kernels.VectorWidth width) => KeyDotByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>MadRoundF16 instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.MadRoundKernel MadRoundF16At(global::QuantPS.Kernels.VectorWidth width) => MadRoundByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>MadF32 instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.MadRoundKernel MadF32At(global::QuantPS.Kernels.VectorWidth width) => MadByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        /// <summary>ScaleRoundF16 instantiated at <paramref name="width"/>.</summary>
        public static global::QuantPS.Kernels.ScaleRoundKernel ScaleRoundF16At(global::QuantPS.Kernels.VectorWidth width) => ScaleRoundByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];

        // These run once per cached key and head, on rows of one head: called directly, not through a delegate (whose
        // static-method thunk cost as much as the work), the switch on a static readonly value folded by the JIT.
        private static readonly int ActiveIndex = global::QuantPS.Kernels.KernelWidth.Index(global::QuantPS.Kernels.KernelWidth.Active);

        /// <summary>KeyDotF16 at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static float KeyDotF16(long count, float* key, float* query) => ActiveIndex switch
        {
            3 => KeyDotF16V512(count, key, query),
            2 => KeyDotF16V256(count, key, query),
            1 => KeyDotF16V128(count, key, query),
            _ => KeyDotF16Scalar(count, key, query),
        };

        /// <summary>MadRoundF16 at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static void MadRoundF16(long count, float* acc, float* value, float factor)
        {
            switch (ActiveIndex)
            {
                case 3: MadRoundF16V512(count, acc, value, factor); break;
                case 2: MadRoundF16V256(count, acc, value, factor); break;
                case 1: MadRoundF16V128(count, acc, value, factor); break;
                default: MadRoundF16Scalar(count, acc, value, factor); break;
            }
        }

        /// <summary>MadF32 at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static void MadF32(long count, float* acc, float* value, float factor)
        {
            switch (ActiveIndex)
            {
                case 3: MadF32V512(count, acc, value, factor); break;
                case 2: MadF32V256(count, acc, value, factor); break;
                case 1: MadF32V128(count, acc, value, factor); break;
                default: MadF32Scalar(count, acc, value, factor); break;
            }
        }

        /// <summary>RoundToHalfRow at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/> (the query rounded to F16, the weights as ggml's F16 softmax leaves them).</summary>
        public static void RoundToHalfRow(float* source, float* destination, long count)
        {
            switch (ActiveIndex)
            {
                case 3: RoundToHalfRowV512(source, destination, count); break;
                case 2: RoundToHalfRowV256(source, destination, count); break;
                case 1: RoundToHalfRowV128(source, destination, count); break;
                default: RoundToHalfRowScalar(source, destination, count); break;
            }
        }

        /// <summary>ScaleRoundF16 at <see cref="global::QuantPS.Kernels.KernelWidth.Active"/>.</summary>
        public static void ScaleRoundF16(long count, float* acc, float factor)
        {
            switch (ActiveIndex)
            {
                case 3: ScaleRoundF16V512(count, acc, factor); break;
                case 2: ScaleRoundF16V256(count, acc, factor); break;
                case 1: ScaleRoundF16V128(count, acc, factor); break;
                default: ScaleRoundF16Scalar(count, acc, factor); break;
            }
        }
        """;
}
