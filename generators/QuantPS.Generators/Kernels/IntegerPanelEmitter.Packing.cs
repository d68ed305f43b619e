using System;
using System.Globalization;
using System.Text;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Packing decoded rows into panels, for both kernels: int16 pairs (16 units of 2 values per block) and biased bytes
/// (8 units of 4 values per block). A vector of one row's units is loaded per lane, then the rows are transposed in
/// registers so that each stored vector holds one unit of every row: int32 unpacks within 128-bit lanes, int64
/// unpacks, then (past 128 bits) 128-bit lane shuffles across vectors.
/// </summary>
internal static partial class IntegerPanelEmitter
{
    private sealed record Unit(string Name, int PerBlock, int Bytes, string Extra, string ExtraArgument);

    private static readonly Unit PairUnit = new("Panel", Groups, 2, "", "");

    private static readonly Unit ByteUnit = new("BytePanel", ByteGroups, 4, ", int bias", ", bias");

    private const string PackParameters = "sbyte* values, long valueStride, float* scales, long scaleStride, long blocks, int* panel";

    private static void EmitPacking(SourceWriter writer)
    {
        writer.Lines(PackScalar(PairUnit, "panel[g * lanes + r] = (v[2 * g] & 0xFFFF) | (v[2 * g + 1] << 16);"));
        writer.Lines(PackScalar(ByteUnit, "panel[g * lanes + r] = (int)((uint)(byte)(v[4 * g] + bias) | ((uint)(byte)(v[4 * g + 1] + bias) << 8) | ((uint)(byte)(v[4 * g + 2] + bias) << 16) | ((uint)(byte)(v[4 * g + 3] + bias) << 24));"));
        foreach (var unit in new[] { PairUnit, ByteUnit })
        {
            var pairs = unit == PairUnit;
            writer.Lines(PackBody(Width.V512, unit, "Avx512F", pairs ? "Avx512BW.IsSupported" : "Avx512F.IsSupported",
                pairs ? "Avx512BW.ConvertToVector512Int16(Vector256.Load({0})).AsInt32()" : "(Vector512.Load((byte*)({0})) + biasBytes).AsInt32()", Cross512));
            writer.Lines(PackBody(Width.V256, unit, "Avx2", "Avx2.IsSupported",
                pairs ? "Avx2.ConvertToVector256Int16(Vector128.Load({0})).AsInt32()" : "(Vector256.Load((byte*)({0})) + biasBytes).AsInt32()", Cross256));
            writer.Lines(PackBody(Width.V128, unit, "Sse2", pairs ? "Sse41.IsSupported" : "Sse2.IsSupported",
                pairs ? "Sse41.ConvertToVector128Int16(Vector128.CreateScalar(*(long*)({0})).AsSByte()).AsInt32()" : "(Vector128.Load((byte*)({0})) + biasBytes).AsInt32()", Cross128));
            writer.Lines(PackDispatch(unit));
        }
    }

    private static string PackScalar(Unit unit, string store) => $$"""
        /// <summary>
        /// Lanes decoded rows (row r's int8 values at values + r * valueStride, its block scales at scales + r * scaleStride)
        /// into a panel of <paramref name="lanes"/> lanes: unit g of block b, lane r = values {{Text(unit.Bytes)}}g.. of that block of row r{{(unit == ByteUnit ? " plus bias, as bytes" : " as int16")}}.
        /// </summary>
        public static void Pack{{unit.Name}}Scalar({{PackParameters}}, int lanes{{unit.Extra}})
        {
            for (long b = 0; b < blocks; b++, panel += {{Text(unit.PerBlock + 1)}} * lanes)
            {
                for (int r = 0; r < lanes; r++)
                {
                    sbyte* v = values + r * valueStride + b * BlockSize;
                    for (int g = 0; g < {{Text(unit.PerBlock)}}; g++)
                    {
                        {{store}}
                    }

                    ((float*)panel)[{{Text(unit.PerBlock)}} * lanes + r] = scales[r * scaleStride + b];
                }
            }
        }

        """;

    private static string PackBody(Width width, Unit unit, string isa, string supported, string load, Func<Func<int, string>, string> crossLanes)
    {
        var lanes = width.Floats;
        var blockInts = unit.PerBlock + 1;
        var blocksPerStep = Math.Max(1, lanes / unit.PerBlock);
        var parts = Math.Max(1, unit.PerBlock / lanes);
        var text = new StringBuilder();
        text.AppendLine($"/// <summary>Pack{unit.Name}Scalar for {Text(lanes)} lanes, {Text(blocksPerStep)} block(s) per step, transposed in registers.</summary>");
        text.AppendLine("[MethodImpl(MethodImplOptions.AggressiveOptimization)]");
        text.AppendLine($"public static void Pack{unit.Name}{width.Suffix}({PackParameters}{unit.Extra})");
        text.AppendLine("{");
        text.AppendLine("    long b = 0;");
        text.AppendLine($"    if ({supported})");
        text.AppendLine("    {");
        if (unit == ByteUnit)
        {
            text.AppendLine($"        var biasBytes = {width.Vec}.Create((byte)bias);");
        }

        text.AppendLine($"        for (; b + {Text(blocksPerStep - 1)} < blocks; b += {Text(blocksPerStep)}, panel += {Text(blocksPerStep * blockInts * lanes)})");
        text.AppendLine("        {");
        for (var part = 0; part < parts; part++)
        {
            text.AppendLine("            {");
            text.AppendLine($"                sbyte* v = values + b * BlockSize + {Text(part * lanes * unit.Bytes)};");
            for (var r = 0; r < lanes; r++)
            {
                text.AppendLine($"                var r{r} = {string.Format(CultureInfo.InvariantCulture, load, $"v + {Text(r)} * valueStride")};");
            }

            EmitUnpacks(text, lanes, isa);

            // Output vector c is unit (part * lanes + c) of the step: its block within the step, then its unit there.
            var first = part * lanes;
            text.Append(crossLanes(c => $"panel + {Text(((((first + c) / unit.PerBlock) * blockInts) + ((first + c) % unit.PerBlock)) * lanes)}"));
            text.AppendLine("            }");
        }

        for (var block = 0; block < blocksPerStep; block++)
        {
            for (var r = 0; r < lanes; r++)
            {
                text.AppendLine($"            ((float*)panel)[{Text((((block * blockInts) + unit.PerBlock) * lanes) + r)}] = scales[{Text(r)} * scaleStride + b + {Text(block)}];");
            }
        }

        text.AppendLine("        }");
        text.AppendLine("    }");
        text.AppendLine();
        text.AppendLine("    // Without the instructions, or a block left over from a step of two.");
        text.AppendLine($"    Pack{unit.Name}Scalar(values + b * BlockSize, valueStride, scales + b, scaleStride, blocks - b, panel, {Text(lanes)}{unit.ExtraArgument});");
        text.AppendLine("}");
        text.AppendLine();
        return text.ToString();
    }

    // r{row} holds a part's units of the row; after the unpacks u{4i + j}, 128-bit lane L, holds unit 4L + j of rows 4i..4i+3.
    private static void EmitUnpacks(StringBuilder text, int lanes, string isa)
    {
        for (var i = 0; i < lanes / 2; i++)
        {
            text.AppendLine($"                var t{2 * i} = {isa}.UnpackLow(r{2 * i}, r{(2 * i) + 1});");
            text.AppendLine($"                var t{(2 * i) + 1} = {isa}.UnpackHigh(r{2 * i}, r{(2 * i) + 1});");
        }

        for (var i = 0; i < lanes / 4; i++)
        {
            var a = 4 * i;
            text.AppendLine($"                var u{a} = {isa}.UnpackLow(t{a}.AsInt64(), t{a + 2}.AsInt64()).AsInt32();");
            text.AppendLine($"                var u{a + 1} = {isa}.UnpackHigh(t{a}.AsInt64(), t{a + 2}.AsInt64()).AsInt32();");
            text.AppendLine($"                var u{a + 2} = {isa}.UnpackLow(t{a + 1}.AsInt64(), t{a + 3}.AsInt64()).AsInt32();");
            text.AppendLine($"                var u{a + 3} = {isa}.UnpackHigh(t{a + 1}.AsInt64(), t{a + 3}.AsInt64()).AsInt32();");
        }
    }

    // Unit 4L + j of rows 4q..4q+3 is lane L of u{4q + j}: a 4 x 4 transpose of 128-bit lanes.
    private static string Cross512(Func<int, string> target)
    {
        var cross = new StringBuilder();
        for (var j = 0; j < 4; j++)
        {
            cross.AppendLine($"                var x{j}0 = Avx512F.Shuffle4x128(u{j}, u{4 + j}, 0x88);");
            cross.AppendLine($"                var x{j}1 = Avx512F.Shuffle4x128(u{j}, u{4 + j}, 0xDD);");
            cross.AppendLine($"                var x{j}2 = Avx512F.Shuffle4x128(u{8 + j}, u{12 + j}, 0x88);");
            cross.AppendLine($"                var x{j}3 = Avx512F.Shuffle4x128(u{8 + j}, u{12 + j}, 0xDD);");
            cross.AppendLine($"                Avx512F.Shuffle4x128(x{j}0, x{j}2, 0x88).Store({target(j)});");
            cross.AppendLine($"                Avx512F.Shuffle4x128(x{j}1, x{j}3, 0x88).Store({target(4 + j)});");
            cross.AppendLine($"                Avx512F.Shuffle4x128(x{j}0, x{j}2, 0xDD).Store({target(8 + j)});");
            cross.AppendLine($"                Avx512F.Shuffle4x128(x{j}1, x{j}3, 0xDD).Store({target(12 + j)});");
        }

        return cross.ToString();
    }

    // Unit 4L + j: lane L of u{j} (rows 0-3) and of u{4 + j} (rows 4-7).
    private static string Cross256(Func<int, string> target)
    {
        var cross = new StringBuilder();
        for (var j = 0; j < 4; j++)
        {
            cross.AppendLine($"                Avx2.Permute2x128(u{j}, u{4 + j}, 0x20).Store({target(j)});");
            cross.AppendLine($"                Avx2.Permute2x128(u{j}, u{4 + j}, 0x31).Store({target(4 + j)});");
        }

        return cross.ToString();
    }

    // One 128-bit lane: unit j of rows 0-3 is u{j}.
    private static string Cross128(Func<int, string> target)
    {
        var cross = new StringBuilder();
        for (var j = 0; j < 4; j++)
        {
            cross.AppendLine($"                u{j}.Store({target(j)});");
        }

        return cross.ToString();
    }

    private static string PackDispatch(Unit unit)
    {
        var name = "Pack" + unit.Name;
        var parameters = PackParameters + unit.Extra;
        var arguments = "values, valueStride, scales, scaleStride, blocks, panel" + unit.ExtraArgument;
        var pointer = "delegate*<sbyte*, long, float*, long, long, int*" + (unit == ByteUnit ? ", int" : "") + ", void>";
        return $$"""
            private static readonly {{pointer}}[] {{name}}ByWidth = { &{{name}}ScalarV128, &{{name}}V128, &{{name}}V256, &{{name}}V512 };

            // The scalar kernel's panels have V128's four lanes.
            private static void {{name}}ScalarV128({{parameters}}) =>
                {{name}}Scalar(values, valueStride, scales, scaleStride, blocks, panel, 4{{unit.ExtraArgument}});

            /// <summary>Packs LanesAt(<paramref name="width"/>) decoded rows into a panel for the kernels at <paramref name="width"/>.</summary>
            public static void {{name}}At(global::QuantPS.Kernels.VectorWidth width, {{parameters}}) =>
                {{name}}ByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)]({{arguments}});

            /// <summary>Packs <see cref="Lanes"/> decoded rows into a panel for the kernels at the active width.</summary>
            public static void {{name}}({{parameters}}) =>
                {{name}}At(global::QuantPS.Kernels.KernelWidth.Active, {{arguments}});

            """;
    }

    private static string Text(int value) => Width.Text(value);
}
