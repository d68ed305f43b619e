using System.Linq;
using System.Text;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The byte super-panels: K-quants whose values are small unsigned integers (Q2_K, Q4_K, Q5_K; DecodeSubBlocks) keep
/// them as bytes, so pmaddubsw multiplies 64 at a time against broadcast int8 activations; the int16 sums of a flush
/// (whole sub-blocks where the range allows) then go through pmaddwd with the rows' sub-scale, which gives the scalar
/// dot product's per super-block integer sum exactly. Mins, d and dmin are as in the int16 super-panels.
/// <para>
/// Panel layout, per super-block: 64 value units (four bytes of a row per lane), then one scale unit per sub-block (the
/// row's sub-scale in both int16 halves), then MinUnits min pair units, then Lanes floats d and Lanes floats dmin.
/// Activation row layout: k int8 values, then one float d per block, then 2 x MinUnits int16 sub-block sums per block.
/// </para>
/// </summary>
internal static partial class IntegerPanelEmitter
{
    private const int ByteSuperUnits = 64;

    /// <summary>The byte super-panel kernels: sub-block size, units per int16 flush, min pair units (Q4_K, Q5_K, Q2_K).</summary>
    private static readonly (int SubBlock, int Flush, int MinUnits)[] ByteSuperVariants = { (32, 8, 4), (32, 4, 4), (16, 4, 8) };

    private static string ByteSuperName((int SubBlock, int Flush, int MinUnits) variant) =>
        $"SuperBytePanelTileG{Width.Text(variant.SubBlock)}F{Width.Text(variant.Flush)}M{Width.Text(variant.MinUnits)}";

    private static void EmitSuperBytes(SourceWriter writer)
    {
        writer
            .Line("/// <summary>Int32 per super-block of a byte super-panel, per lane, for sub-blocks of <paramref name=\"subBlock\"/> values and <paramref name=\"minUnits\"/> min pair units.</summary>")
            .Line($"public static int SuperByteBlockInts(int subBlock, int minUnits) => {Width.Text(ByteSuperUnits)} + SuperBlockSize / subBlock + minUnits + 2;")
            .Line();
        writer.Lines(SuperByteScalar);
        foreach (var variant in ByteSuperVariants)
        {
            // The scalar member of each variant: the shared reference with its shape (the bias argument is unused).
            writer
                .Line($"private static void {ByteSuperName(variant)}Scalar{ByteSignature} =>")
                .Line($"    SuperBytePanelTileScalar(blocks, panel, activations, activationStride, {Width.Text(variant.SubBlock)}, {Width.Text(variant.MinUnits)}, results, resultStride);")
                .Line();
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(SuperByteVector(variant)));
            }
        }

        writer.Lines(SuperBytePackScalar);
        writer.Lines(SuperPack(Width.V512, "Avx512F", Cross512, "PackSuperBytePanel", ByteSuperUnits, SuperBytePackParameters, SuperBytePackArguments, "SuperByteBlockInts(subBlock, minUnits)", SuperByteTail));
        writer.Lines(SuperPack(Width.V256, "Avx2", Cross256, "PackSuperBytePanel", ByteSuperUnits, SuperBytePackParameters, SuperBytePackArguments, "SuperByteBlockInts(subBlock, minUnits)", SuperByteTail));
        writer.Lines(SuperPack(Width.V128, "Sse2", Cross128, "PackSuperBytePanel", ByteSuperUnits, SuperBytePackParameters, SuperBytePackArguments, "SuperByteBlockInts(subBlock, minUnits)", SuperByteTail));

        var cases = string.Join("\n", ByteSuperVariants.Select(v =>
            $"        ({Width.Text(v.SubBlock)}, {Width.Text(v.Flush)}, {Width.Text(v.MinUnits)}) => new global::QuantPS.Kernels.IntegerBytePanelKernel[] {{ {string.Join(", ", new[] {"Scalar", "V128", "V256", "V512"}.Select(w => w == "Scalar" ? $"{ByteSuperName(v)}Scalar" : ByteSuperName(v) + w))} }}[global::QuantPS.Kernels.KernelWidth.Index(width)],"));
        writer.Lines($$"""
            /// <summary>
            /// The byte super-panel kernel for sub-blocks of <paramref name="subBlock"/> values, <paramref name="flush"/> units per
            /// int16 flush and <paramref name="minUnits"/> min pair units, at <paramref name="width"/>; null where none was generated.
            /// </summary>
            public static global::QuantPS.Kernels.IntegerBytePanelKernel? SuperBytePanelTileAt(global::QuantPS.Kernels.VectorWidth width, int subBlock, int flush, int minUnits) => (subBlock, flush, minUnits) switch
            {
            {{cases}}
                _ => null,
            };

            private static readonly delegate*<byte*, long, short*, short*, long, float*, long, long, int*, int, int, void>[] PackSuperByteByWidth = { &PackSuperBytePanelScalarV128, &PackSuperBytePanelV128, &PackSuperBytePanelV256, &PackSuperBytePanelV512 };

            private static void PackSuperBytePanelScalarV128({{SuperBytePackParameters}}) =>
                PackSuperBytePanelScalar({{SuperBytePackArguments}}, 4);

            /// <summary>Packs LanesAt(<paramref name="width"/>) rows decoded by DecodeSubBlocks into a byte super-panel.</summary>
            public static void PackSuperBytePanelAt(global::QuantPS.Kernels.VectorWidth width, {{SuperBytePackParameters}}) =>
                PackSuperByteByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)]({{SuperBytePackArguments}});

            /// <summary>Packs <see cref="Lanes"/> decoded rows into a byte super-panel for the kernels at the active width.</summary>
            public static void PackSuperBytePanel({{SuperBytePackParameters}}) =>
                PackSuperBytePanelAt(global::QuantPS.Kernels.KernelWidth.Active, {{SuperBytePackArguments}});

            """);
    }

    // The per-block stride of subScales and mins is SuperBlockSize / subBlock, for both (types without mins pass any mins).
    private const string SuperBytePackParameters = "byte* values, long valueStride, short* subScales, short* mins, long subStride, float* scales, long scaleStride, long blocks, int* panel, int subBlock, int minUnits";

    private const string SuperBytePackArguments = "values, valueStride, subScales, mins, subStride, scales, scaleStride, blocks, panel, subBlock, minUnits";

    private const string SuperByteTail = "PackSuperByteTail(subScales, mins, subStride, scales, scaleStride, b, panel, subBlock, minUnits, {0});";

    private static readonly string SuperBytePackScalar = $$"""
        /// <summary>
        /// Lanes rows from DecodeSubBlocks (row r's values at values + r * valueStride, its sub-scales and mins at
        /// subScales/mins + r * subStride, its (d, dmin) pairs at scales + r * scaleStride) into a byte super-panel of <paramref name="lanes"/> lanes.
        /// </summary>
        public static void PackSuperBytePanelScalar({{SuperBytePackParameters}}, int lanes)
        {
            int blockInts = SuperByteBlockInts(subBlock, minUnits);
            for (long b = 0; b < blocks; b++, panel += blockInts * lanes)
            {
                for (int r = 0; r < lanes; r++)
                {
                    int* v = (int*)(values + r * valueStride + b * SuperBlockSize);
                    for (int g = 0; g < {{Width.Text(ByteSuperUnits)}}; g++)
                    {
                        panel[g * lanes + r] = v[g];
                    }
                }

                PackSuperByteTail(subScales, mins, subStride, scales, scaleStride, b, panel, subBlock, minUnits, lanes);
            }
        }

        // A super-block's scale units (the sub-scale in both int16 halves), min units and scales, lane by lane.
        private static void PackSuperByteTail(short* subScales, short* mins, long subStride, float* scales, long scaleStride, long b, int* panel, int subBlock, int minUnits, int lanes)
        {
            int subBlocks = SuperBlockSize / subBlock;
            for (int r = 0; r < lanes; r++)
            {
                short* s = subScales + r * subStride + b * subBlocks;
                for (int j = 0; j < subBlocks; j++)
                {
                    panel[({{Width.Text(ByteSuperUnits)}} + j) * lanes + r] = (s[j] & 0xFFFF) | (s[j] << 16);
                }

                int* m = (int*)(mins + r * subStride + b * subBlocks);
                for (int g = 0; g < minUnits; g++)
                {
                    panel[({{Width.Text(ByteSuperUnits)}} + subBlocks + g) * lanes + r] = m[g];
                }

                ((float*)panel)[({{Width.Text(ByteSuperUnits)}} + subBlocks + minUnits) * lanes + r] = scales[r * scaleStride + 2 * b];
                ((float*)panel)[({{Width.Text(ByteSuperUnits)}} + subBlocks + minUnits + 1) * lanes + r] = scales[r * scaleStride + 2 * b + 1];
            }
        }

        """;

    private static readonly string SuperByteScalar = $$"""
        /// <summary>
        /// The byte super-panels' reference, four lanes like V128: results[t * resultStride + r] = sum over super-blocks of
        /// d * da * (sum over sub-blocks of scale x sum of value x activation) - dmin * da * (sum of min x sub-block sum),
        /// as the K-quants' scalar dot product. (One reference for every sub-block size and flush: the integers are exact.)
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void SuperBytePanelTileScalar(long blocks, int* panel, sbyte* activations, long activationStride, int subBlock, int minUnits, float* results, long resultStride)
        {
            const int lanes = 4;
            int subBlocks = SuperBlockSize / subBlock;
            int blockInts = SuperByteBlockInts(subBlock, minUnits);
            for (long t = 0; t < Tokens; t++)
            {
                sbyte* a = activations + t * activationStride;
                float* scales = (float*)(a + blocks * SuperBlockSize);
                short* sums = (short*)(scales + blocks);
                for (int r = 0; r < lanes; r++)
                {
                    float sum = 0f;
                    for (long b = 0; b < blocks; b++)
                    {
                        int* block = panel + b * blockInts * lanes;
                        sbyte* x = a + b * SuperBlockSize;
                        int isum = 0;
                        for (int j = 0; j < subBlocks; j++)
                        {
                            int part = 0;
                            for (int i = j * subBlock; i < (j + 1) * subBlock; i++)
                            {
                                part += (int)(((uint)block[(i / 4) * lanes + r] >> (8 * (i % 4))) & 0xFF) * x[i];
                            }

                            isum += (short)block[({{Width.Text(ByteSuperUnits)}} + j) * lanes + r] * part;
                        }

                        int msum = 0;
                        short* c = sums + b * 2 * minUnits;
                        for (int g = 0; g < minUnits; g++)
                        {
                            int pair = block[({{Width.Text(ByteSuperUnits)}} + subBlocks + g) * lanes + r];
                            msum += (short)pair * c[2 * g] + (pair >> 16) * c[2 * g + 1];
                        }

                        float d = ((float*)block)[({{Width.Text(ByteSuperUnits)}} + subBlocks + minUnits) * lanes + r];
                        float dmin = ((float*)block)[({{Width.Text(ByteSuperUnits)}} + subBlocks + minUnits + 1) * lanes + r];
                        sum += d * scales[b] * isum - dmin * scales[b] * msum;
                    }

                    results[t * resultStride + r] = sum;
                }
            }
        }

        """;

    private static string SuperByteVector((int SubBlock, int Flush, int MinUnits) variant)
    {
        var (subBlock, flush, minUnits) = variant;
        var subBlocks = 256 / subBlock;
        var unitsPerSub = subBlock / 4;
        var blockInts = ByteSuperUnits + subBlocks + minUnits + 2;
        var tokens = Enumerable.Range(0, Tokens).ToList();
        var name = ByteSuperName(variant);
        var text = new StringBuilder();
        text.AppendLine($"/// <summary>SuperBytePanelTileScalar's results for $L panel rows (sub-blocks of {Width.Text(subBlock)}, {Width.Text(flush)} units per int16 flush, {Width.Text(minUnits)} min pair units).</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine($"public static void {name}$W" + ByteSignature);
        text.AppendLine("{");
        foreach (var t in tokens)
        {
            text.AppendLine($"    int* a{t} = (int*)(activations + {t} * activationStride);");
            text.AppendLine($"    float* s{t} = (float*)(activations + {t} * activationStride + blocks * SuperBlockSize);");
            text.AppendLine($"    int* c{t} = (int*)(s{t} + blocks);");
            text.AppendLine($"    var sum{t} = $V<float>.Zero;");
        }

        text.AppendLine($"    for (long b = 0; b < blocks; b++, panel += {Width.Text(blockInts)} * $L)");
        text.AppendLine("    {");
        foreach (var t in tokens)
        {
            text.AppendLine($"        var i{t} = $V<int>.Zero;");
        }

        // One sub-block per iteration: its units unrolled, each flush through pmaddwd with the rows' sub-scale.
        text.AppendLine($"        for (int j = 0; j < {Width.Text(subBlocks)}; j++)");
        text.AppendLine("        {");
        text.AppendLine($"            var scale = $V.Load(panel + ({Width.Text(ByteSuperUnits)} + j) * $L);");
        text.AppendLine($"            int* w = panel + j * {Width.Text(unitsPerSub)} * $L;");
        foreach (var t in tokens)
        {
            text.AppendLine($"            int* x{t} = a{t} + j * {Width.Text(unitsPerSub)};");
        }

        for (var u = 0; u < unitsPerSub; u++)
        {
            text.AppendLine($"            var w{u} = $V.Load(w + {u} * $L);");
            foreach (var t in tokens)
            {
                var product = $"BytePairs$W(w{u}, $V.Create(x{t}[{u}]))";
                text.AppendLine(u % flush == 0 ? $"            var h{t}_{u / flush} = {product};" : $"            h{t}_{u / flush} += {product};");
            }

            if (u % flush == flush - 1)
            {
                foreach (var t in tokens)
                {
                    text.AppendLine($"            i{t} += Pairs$W(h{t}_{u / flush}.AsInt32(), scale);");
                }
            }
        }

        text.AppendLine("        }");
        text.AppendLine();
        EmitMinUnits(text, tokens, ByteSuperUnits + subBlocks, minUnits);

        text.AppendLine($"        var d = $V.Load((float*)(panel + {Width.Text(ByteSuperUnits + subBlocks + minUnits)} * $L));");
        text.AppendLine($"        var dmin = $V.Load((float*)(panel + {Width.Text(ByteSuperUnits + subBlocks + minUnits + 1)} * $L));");
        foreach (var t in tokens)
        {
            text.AppendLine($"        var da{t} = $V.Create(s{t}[b]);");
            text.AppendLine($"        sum{t} += (d * da{t} * $V.ConvertToSingle(i{t})) - (dmin * da{t} * $V.ConvertToSingle(n{t}));");
            text.AppendLine($"        a{t} += {Width.Text(ByteSuperUnits)};");
            text.AppendLine($"        c{t} += {Width.Text(minUnits)};");
        }

        text.AppendLine("    }");
        text.AppendLine();
        EmitStores(text, tokens);
        return text.ToString();
    }
}
