using System;
using System.Linq;
using System.Text;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The super-panels: K-quant weights (Q2_K..Q6_K) against Q8_K activations. A K-quant super-block's integers times
/// its sub-scales fit int16 (DecodeSubScaled), so the int16 kernel's pmaddwd gives the scalar dot product's per
/// super-block integer sum directly; the sub-block mins enter as a few more pair units against the activation's
/// sub-block sums; then d and dmin scale once per super-block, in the scalar product's order, so every result is its
/// result bit for bit.
/// <para>
/// Panel layout, per super-block: 128 pair units, then MinUnits min pair units (mins 2u and 2u + 1 of each row), then
/// Lanes floats d, then (with mins) Lanes floats dmin. Activation row layout: k int16 values, then one float d per
/// block, then (with mins) 2 x MinUnits int16 sub-block sums per block.
/// </para>
/// </summary>
internal static partial class IntegerPanelEmitter
{
    private const int SuperUnits = 128;

    /// <summary>Min pair units per super-block, by kernel: none (Q3_K, Q6_K), 8 mins (Q4_K, Q5_K), 16 mins (Q2_K).</summary>
    private static readonly int[] MinUnitCounts = { 0, 4, 8 };

    private static void EmitSuper(SourceWriter writer)
    {
        writer
            .Line("/// <summary>Values per super-block.</summary>")
            .Line("public const int SuperBlockSize = 256;")
            .Line()
            .Line("/// <summary>Int32 per super-block of a super-panel, per lane, for <paramref name=\"minUnits\"/> min pair units.</summary>")
            .Line($"public static int SuperBlockInts(int minUnits) => {Width.Text(SuperUnits)} + minUnits + (minUnits > 0 ? 2 : 1);")
            .Line();
        foreach (var minUnits in MinUnitCounts)
        {
            writer.Lines(SuperScalar(minUnits));
            foreach (var width in Width.All)
            {
                writer.Lines(width.Fill(SuperVector(minUnits)));
            }
        }

        writer.Lines(SuperPackScalar);
        writer.Lines(SuperPack(Width.V512, "Avx512F", Cross512));
        writer.Lines(SuperPack(Width.V256, "Avx2", Cross256));
        writer.Lines(SuperPack(Width.V128, "Sse2", Cross128));
        var kernels = string.Join(", ", MinUnitCounts.Select(m => "new global::QuantPS.Kernels.IntegerPanelKernel[] { " + string.Join(", ", new[] { "Scalar", "V128", "V256", "V512" }.Select(w => $"SuperPanelTileM{Width.Text(m)}{w}")) + " }"));
        writer.Lines($$"""
            private static readonly global::QuantPS.Kernels.IntegerPanelKernel[][] SuperPanelTileByMins = { {{kernels}} };

            private static readonly delegate*<short*, long, short*, long, float*, long, long, int*, int, void>[] PackSuperByWidth = { &PackSuperPanelScalarV128, &PackSuperPanelV128, &PackSuperPanelV256, &PackSuperPanelV512 };

            private static void PackSuperPanelScalarV128(short* values, long valueStride, short* mins, long minStride, float* scales, long scaleStride, long blocks, int* panel, int minUnits) =>
                PackSuperPanelScalar(values, valueStride, mins, minStride, scales, scaleStride, blocks, panel, minUnits, 4);

            /// <summary>The super-panel kernel for <paramref name="minUnits"/> min pair units (0, 4 or 8), at <paramref name="width"/>.</summary>
            public static global::QuantPS.Kernels.IntegerPanelKernel SuperPanelTileAt(global::QuantPS.Kernels.VectorWidth width, int minUnits) =>
                SuperPanelTileByMins[minUnits / 4][global::QuantPS.Kernels.KernelWidth.Index(width)];

            /// <summary>Packs LanesAt(<paramref name="width"/>) rows decoded by DecodeSubScaled into a super-panel for the kernels at <paramref name="width"/>.</summary>
            public static void PackSuperPanelAt(global::QuantPS.Kernels.VectorWidth width, short* values, long valueStride, short* mins, long minStride, float* scales, long scaleStride, long blocks, int* panel, int minUnits) =>
                PackSuperByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)](values, valueStride, mins, minStride, scales, scaleStride, blocks, panel, minUnits);

            /// <summary>Packs <see cref="Lanes"/> decoded rows into a super-panel for the kernels at the active width.</summary>
            public static void PackSuperPanel(short* values, long valueStride, short* mins, long minStride, float* scales, long scaleStride, long blocks, int* panel, int minUnits) =>
                PackSuperPanelAt(global::QuantPS.Kernels.KernelWidth.Active, values, valueStride, mins, minStride, scales, scaleStride, blocks, panel, minUnits);

            """);
    }

    private static string SuperScalar(int minUnits)
    {
        var blockInts = SuperUnits + minUnits + (minUnits > 0 ? 2 : 1);
        var min = minUnits == 0 ? "" : $$"""

                            int msum = 0;
                            short* c = (short*)(scales + blocks) + b * {{Width.Text(2 * minUnits)}};
                            for (int g = 0; g < {{Width.Text(minUnits)}}; g++)
                            {
                                int pair = block[({{Width.Text(SuperUnits)}} + g) * lanes + r];
                                msum += (short)pair * c[2 * g] + (pair >> 16) * c[2 * g + 1];
                            }

                            float dmin = ((float*)block)[{{Width.Text(SuperUnits + minUnits + 1)}} * lanes + r];
            """;
        var result = minUnits == 0 ? "d * scales[b] * isum" : "d * scales[b] * isum - dmin * scales[b] * msum";
        return $$"""
            /// <summary>
            /// The super-panel reference ({{Width.Text(minUnits)}} min pair units), four lanes like V128: results[t * resultStride + r] =
            /// sum over super-blocks of {{result}}, as the K-quants' scalar dot product.
            /// </summary>
            [MethodImpl(MethodImplOptions.AggressiveOptimization)]
            public static void SuperPanelTileM{{Width.Text(minUnits)}}Scalar{{Signature}}
            {
                const int lanes = 4;
                for (long t = 0; t < Tokens; t++)
                {
                    short* a = activations + t * activationStride;
                    float* scales = (float*)(a + blocks * SuperBlockSize);
                    for (int r = 0; r < lanes; r++)
                    {
                        float sum = 0f;
                        for (long b = 0; b < blocks; b++)
                        {
                            int* block = panel + b * {{Width.Text(blockInts)}} * lanes;
                            short* x = a + b * SuperBlockSize;
                            int isum = 0;
                            for (int g = 0; g < {{Width.Text(SuperUnits)}}; g++)
                            {
                                int pair = block[g * lanes + r];
                                isum += (short)pair * x[2 * g] + (pair >> 16) * x[2 * g + 1];
                            }

                            float d = ((float*)block)[{{Width.Text(SuperUnits + minUnits)}} * lanes + r];{{min}}
                            sum += {{result}};
                        }

                        results[t * resultStride + r] = sum;
                    }
                }
            }

            """;
    }

    private static string SuperVector(int minUnits)
    {
        const int Unroll = 8;
        var blockInts = SuperUnits + minUnits + (minUnits > 0 ? 2 : 1);
        var tokens = Enumerable.Range(0, Tokens).ToList();
        var text = new StringBuilder();
        text.AppendLine($"/// <summary>SuperPanelTileM{Width.Text(minUnits)}Scalar's results for $L panel rows, one vector of lanes.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine($"public static void SuperPanelTileM{Width.Text(minUnits)}$W" + Signature);
        text.AppendLine("{");
        foreach (var t in tokens)
        {
            text.AppendLine($"    int* a{t} = (int*)(activations + {t} * activationStride);");
            text.AppendLine($"    float* s{t} = (float*)(activations + {t} * activationStride + blocks * SuperBlockSize);");
            if (minUnits > 0)
            {
                text.AppendLine($"    int* c{t} = (int*)(s{t} + blocks);");
            }

            text.AppendLine($"    var sum{t} = $V<float>.Zero;");
        }

        text.AppendLine($"    for (long b = 0; b < blocks; b++, panel += {Width.Text(blockInts)} * $L)");
        text.AppendLine("    {");
        foreach (var t in tokens)
        {
            text.AppendLine($"        var i{t} = $V<int>.Zero;");
        }

        // A loop of 8 units at a time: the super-block's 128 units unrolled would be a very long method.
        text.AppendLine($"        for (int g = 0; g < {Width.Text(SuperUnits)}; g += {Width.Text(Unroll)})");
        text.AppendLine("        {");
        for (var u = 0; u < Unroll; u++)
        {
            text.AppendLine($"            var w{u} = $V.Load(panel + (g + {u}) * $L);");
            foreach (var t in tokens)
            {
                text.AppendLine($"            i{t} += Pairs$W(w{u}, $V.Create(a{t}[g + {u}]));");
            }
        }

        text.AppendLine("        }");
        text.AppendLine();
        EmitMinUnits(text, tokens, SuperUnits, minUnits);

        text.AppendLine($"        var d = $V.Load((float*)(panel + {Width.Text(SuperUnits + minUnits)} * $L));");
        if (minUnits > 0)
        {
            text.AppendLine($"        var dmin = $V.Load((float*)(panel + {Width.Text(SuperUnits + minUnits + 1)} * $L));");
        }

        foreach (var t in tokens)
        {
            text.AppendLine($"        var da{t} = $V.Create(s{t}[b]);");
            text.AppendLine(minUnits == 0
                ? $"        sum{t} += d * da{t} * $V.ConvertToSingle(i{t});"
                : $"        sum{t} += (d * da{t} * $V.ConvertToSingle(i{t})) - (dmin * da{t} * $V.ConvertToSingle(n{t}));");
            text.AppendLine($"        a{t} += {Width.Text(SuperUnits)};");
            if (minUnits > 0)
            {
                text.AppendLine($"        c{t} += {Width.Text(minUnits)};");
            }
        }

        text.AppendLine("    }");
        text.AppendLine();
        EmitStores(text, tokens);
        return text.ToString();
    }

    private const string SuperPackParameters = "short* values, long valueStride, short* mins, long minStride, float* scales, long scaleStride, long blocks, int* panel, int minUnits";

    private static readonly string SuperPackScalar = $$"""
        /// <summary>
        /// Lanes rows from DecodeSubScaled (row r's values at values + r * valueStride, its mins at mins + r * minStride, its
        /// (d, dmin) pairs at scales + r * scaleStride) into a super-panel of <paramref name="lanes"/> lanes.
        /// </summary>
        public static void PackSuperPanelScalar({{SuperPackParameters}}, int lanes)
        {
            int blockInts = SuperBlockInts(minUnits);
            for (long b = 0; b < blocks; b++, panel += blockInts * lanes)
            {
                for (int r = 0; r < lanes; r++)
                {
                    int* v = (int*)(values + r * valueStride + b * SuperBlockSize);
                    for (int g = 0; g < {{Width.Text(SuperUnits)}}; g++)
                    {
                        panel[g * lanes + r] = v[g];
                    }
                }

                PackSuperTail(mins, minStride, scales, scaleStride, b, panel, minUnits, lanes);
            }
        }

        // A super-block's min units and scales, lane by lane.
        private static void PackSuperTail(short* mins, long minStride, float* scales, long scaleStride, long b, int* panel, int minUnits, int lanes)
        {
            for (int r = 0; r < lanes; r++)
            {
                int* m = (int*)(mins + r * minStride + b * 2 * minUnits);
                for (int g = 0; g < minUnits; g++)
                {
                    panel[({{Width.Text(SuperUnits)}} + g) * lanes + r] = m[g];
                }

                ((float*)panel)[({{Width.Text(SuperUnits)}} + minUnits) * lanes + r] = scales[r * scaleStride + 2 * b];
                if (minUnits > 0)
                {
                    ((float*)panel)[({{Width.Text(SuperUnits)}} + minUnits + 1) * lanes + r] = scales[r * scaleStride + 2 * b + 1];
                }
            }
        }

        """;

    private static string SuperPack(Width width, string isa, Func<Func<int, string>, string> crossLanes) => SuperPack(
        width, isa, crossLanes, "PackSuperPanel", SuperUnits, SuperPackParameters,
        "values, valueStride, mins, minStride, scales, scaleStride, blocks, panel, minUnits",
        "SuperBlockInts(minUnits)", "PackSuperTail(mins, minStride, scales, scaleStride, b, panel, minUnits, {0});");

    /// <summary>
    /// A super-panel packer at <paramref name="width"/>: each block's <paramref name="units"/> value units (int32 of the
    /// rows at values + r * valueStride) transposed in registers, then <paramref name="tail"/> (its scales and mins).
    /// </summary>
    private static string SuperPack(Width width, string isa, Func<Func<int, string>, string> crossLanes, string name, int units, string parameters, string arguments, string blockInts, string tail)
    {
        var lanes = width.Floats;
        var text = new StringBuilder();
        text.AppendLine($"/// <summary>{name}Scalar for {Width.Text(lanes)} lanes, the value units transposed in registers.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine($"public static void {name}{width.Suffix}({parameters})");
        text.AppendLine("{");
        text.AppendLine($"    if (!{isa}.IsSupported)");
        text.AppendLine("    {");
        text.AppendLine($"        {name}Scalar({arguments}, {Width.Text(lanes)});");
        text.AppendLine("        return;");
        text.AppendLine("    }");
        text.AppendLine();
        text.AppendLine($"    int blockInts = {blockInts};");
        text.AppendLine($"    for (long b = 0; b < blocks; b++, panel += blockInts * {Width.Text(lanes)})");
        text.AppendLine("    {");
        text.AppendLine($"        for (int part = 0; part < {Width.Text(units / lanes)}; part++)");
        text.AppendLine("        {");
        text.AppendLine($"            int* p = panel + part * {Width.Text(lanes * lanes)};");
        for (var r = 0; r < lanes; r++)
        {
            text.AppendLine($"            var r{r} = {width.Vec}.Load((int*)(values + {Width.Text(r)} * valueStride + b * SuperBlockSize) + part * {Width.Text(lanes)});");
        }

        EmitUnpacks(text, lanes, isa);
        text.Append(crossLanes(c => $"p + {Width.Text(c * lanes)}"));
        text.AppendLine("        }");
        text.AppendLine();
        text.AppendLine("        " + string.Format(System.Globalization.CultureInfo.InvariantCulture, tail, Width.Text(lanes)));
        text.AppendLine("    }");
        text.AppendLine("}");
        text.AppendLine();
        return text.ToString();
    }
}
