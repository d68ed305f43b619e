using System.Globalization;
using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>The generated type table against llama.cpp's own type_traits (golden/tensors/traits.tsv) and its contract.</summary>
public sealed class GgmlTypeTraitsTests
{
    private static readonly uint[] RetiredIds = { 4, 5, 31, 32, 33, 36, 37, 38 };

    [Fact]
    public void Every_golden_row_matches_the_table()
    {
        var rows = ReadGoldenTraits();
        Assert.NotEmpty(rows);

        Assert.All(rows, row =>
        {
            Assert.True(GgmlTypeTraits.TryGet(row.Id, out var info), $"id {row.Id} ({row.GgmlName}) is missing");
            Assert.Equal(row.GgmlName, info.GgmlName);
            Assert.Equal(row.BlockSize, info.BlockSize);
            Assert.Equal(row.TypeSize, info.TypeSize);
            Assert.Equal(row.IsQuantized, info.IsQuantized);
            Assert.Equal(row.RowSize1024, info.RowSizeBytes(1024));
        });
    }

    [Fact]
    public void Every_quantized_type_has_a_golden_row()
    {
        var goldenIds = ReadGoldenTraits().Select(row => row.Id).ToHashSet();

        Assert.All(GgmlTypeTraits.All.Where(info => info.IsQuantized), info => Assert.Contains(info.Id, goldenIds));
    }

    [Fact]
    public void Element_types_have_block_size_one_and_their_scalar_width()
    {
        var expected = new Dictionary<GgmlType, int>
        {
            [GgmlType.F32] = 4, [GgmlType.F16] = 2, [GgmlType.BF16] = 2, [GgmlType.F64] = 8,
            [GgmlType.I8] = 1, [GgmlType.I16] = 2, [GgmlType.I32] = 4, [GgmlType.I64] = 8,
        };

        Assert.Equal(expected.Keys.Order(), GgmlTypeTraits.All.Where(info => !info.IsQuantized).Select(info => info.Type).Order());
        Assert.All(expected, pair =>
        {
            var info = GgmlTypeTraits.Get(pair.Key);
            Assert.Equal(1, info.BlockSize);
            Assert.Equal(pair.Value, info.TypeSize);
        });
    }

    [Fact]
    public void All_lists_every_live_id_once_in_order_and_skips_retired_ids()
    {
        var ids = GgmlTypeTraits.All.Select(info => info.Id).ToArray();
        var expected = Enumerable.Range(0, 43).Select(i => (uint)i).Except(RetiredIds);

        Assert.Equal(expected, ids);
        Assert.Equal(42u, GgmlTypeTraits.MaxId);
        Assert.All(GgmlTypeTraits.All, info =>
        {
            Assert.Equal(info.Type.ToString(), info.Name);
            Assert.Equal((uint)info.Type, info.Id);
            Assert.Same(info, GgmlTypeTraits.Get(info.Type));
            Assert.Equal(info.Name, info.ToString());
        });
        Assert.Equal(Enum.GetValues<GgmlType>().Length, GgmlTypeTraits.All.Count);
    }

    [Theory]
    [InlineData(4u, "Q4_2")]
    [InlineData(5u, "Q4_3")]
    [InlineData(31u, "Q4_0_4_4")]
    [InlineData(32u, "Q4_0_4_8")]
    [InlineData(33u, "Q4_0_8_8")]
    [InlineData(36u, "IQ4_NL_4_4")]
    [InlineData(37u, "IQ4_NL_4_8")]
    [InlineData(38u, "IQ4_NL_8_8")]
    public void Retired_ids_have_names_but_no_traits(uint id, string name)
    {
        Assert.True(GgmlTypeTraits.TryGetRetiredName(id, out var retiredName));
        Assert.Equal(name, retiredName);
        Assert.False(GgmlTypeTraits.TryGet(id, out _));
        Assert.False(GgmlTypeTraits.TryParse(name, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgmlTypeTraits.Get((GgmlType)id));
    }

    [Theory]
    [InlineData(43u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void Unknown_ids_are_neither_live_nor_retired(uint id)
    {
        Assert.False(GgmlTypeTraits.TryGet(id, out _));
        Assert.False(GgmlTypeTraits.TryGetRetiredName(id, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgmlTypeTraits.Get((GgmlType)id));
    }

    [Fact]
    public void Live_ids_have_no_retired_name()
    {
        Assert.All(GgmlTypeTraits.All, info => Assert.False(GgmlTypeTraits.TryGetRetiredName(info.Id, out _)));
    }

    [Theory]
    [InlineData("Q4_K", GgmlType.Q4_K)]
    [InlineData("q4_K", GgmlType.Q4_K)]
    [InlineData("q4_k", GgmlType.Q4_K)]
    [InlineData("IQ2_XXS", GgmlType.IQ2_XXS)]
    [InlineData("iq2_xxs", GgmlType.IQ2_XXS)]
    [InlineData("bf16", GgmlType.BF16)]
    [InlineData("F32", GgmlType.F32)]
    [InlineData("mxfp4", GgmlType.MXFP4)]
    public void TryParse_accepts_either_name_in_any_case(string name, GgmlType expected)
    {
        Assert.True(GgmlTypeTraits.TryParse(name, out var info));
        Assert.Equal(expected, info.Type);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Q4")]
    [InlineData("Q4_K_M")]
    [InlineData(" q4_K")]
    [InlineData(null)]
    public void TryParse_rejects_other_strings(string? name)
    {
        Assert.False(GgmlTypeTraits.TryParse(name!, out _));
    }

    [Fact]
    public void RowSizeBytes_counts_whole_blocks_only()
    {
        var q4k = GgmlTypeTraits.Get(GgmlType.Q4_K);

        Assert.Equal(0, q4k.RowSizeBytes(0));
        Assert.Equal(144L * 16, q4k.RowSizeBytes(4096));
        Assert.Equal(144L * (1L << 32), q4k.RowSizeBytes(256L << 32));
        Assert.Throws<ArgumentException>(() => q4k.RowSizeBytes(100));
        Assert.Throws<ArgumentException>(() => q4k.RowSizeBytes(-256));
        Assert.Equal(6, GgmlTypeTraits.Get(GgmlType.F16).RowSizeBytes(3));
    }

    private static List<GoldenTraits> ReadGoldenTraits()
    {
        var path = SharedData.File("golden/tensors/traits.tsv");
        var lines = File.ReadAllLines(path).Where(line => line.Length > 0).ToList();
        var header = lines[0].Split('\t');
        int Column(string name) => Array.IndexOf(header, name) is var index and >= 0
            ? index
            : throw new InvalidDataException($"traits.tsv has no '{name}' column");

        var id = Column("type_id");
        var type = Column("type");
        var blockSize = Column("blck_size");
        var typeSize = Column("type_size");
        var isQuantized = Column("is_quantized");
        var rowSize = Column("row_size_1024");
        return lines.Skip(1)
            .Select(line => line.Split('\t'))
            .Select(cells => new GoldenTraits(
                uint.Parse(cells[id], CultureInfo.InvariantCulture),
                cells[type],
                int.Parse(cells[blockSize], CultureInfo.InvariantCulture),
                int.Parse(cells[typeSize], CultureInfo.InvariantCulture),
                cells[isQuantized] == "1",
                long.Parse(cells[rowSize], CultureInfo.InvariantCulture)))
            .ToList();
    }

    private sealed record GoldenTraits(uint Id, string GgmlName, int BlockSize, int TypeSize, bool IsQuantized, long RowSize1024);
}
