using System.Reflection;
using System.Runtime.CompilerServices;
using QuantPS.Kernels;
using QuantPS.Kernels.Formats;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>The emitted block structs have exactly ggml's sizes and field offsets.</summary>
public sealed class BlockLayoutTests
{
    private static readonly IReadOnlyList<(Type Struct, GgmlBlockAttribute Declaration)> DeclaredBlocks =
        typeof(GgmlTypeInfo).Assembly.GetTypes()
            .Select(type => (Struct: type, Declaration: type.GetCustomAttribute<GgmlBlockAttribute>()))
            .Where(pair => pair.Declaration is not null)
            .Select(pair => (pair.Struct, pair.Declaration!))
            .ToList();

    [Fact]
    public void Every_live_type_has_exactly_one_block_struct()
    {
        var declaredIds = DeclaredBlocks.Select(block => block.Declaration.Id).Order();

        Assert.Equal(GgmlTypeTraits.All.Select(info => info.Id), declaredIds);
    }

    [Fact]
    public void Struct_size_equals_the_table_type_size()
    {
        Assert.All(DeclaredBlocks, block =>
        {
            var info = GgmlTypeTraits.Get((GgmlType)block.Declaration.Id);
            Assert.Equal(info.TypeSize, SizeOf(block.Struct));
            Assert.Equal(info.TypeSize, Constant<int>(block.Struct, "TypeSize"));
            Assert.Equal(info.BlockSize, Constant<int>(block.Struct, "BlockSize"));
            Assert.Equal(info.Type, Constant<GgmlType>(block.Struct, "GgmlType"));
        });
    }

    [Fact]
    public unsafe void Sizes_named_in_ggml_common_h()
    {
        Assert.Equal(18, sizeof(BlockQ4_0));
        Assert.Equal(144, sizeof(BlockQ4_K));
        Assert.Equal(292, sizeof(BlockQ8_K));
        Assert.Equal(36, sizeof(BlockNVFP4));
        Assert.Equal(18, sizeof(BlockQ1_0));
        Assert.Equal(18, sizeof(BlockQ2_0));
        Assert.Equal(17, sizeof(BlockMXFP4));
        Assert.Equal(54, sizeof(BlockTQ1_0));
    }

    [Fact]
    public unsafe void Field_offsets_follow_wire_order()
    {
        BlockQ4_K q4k = default;
        Assert.Equal(0, Offset(&q4k, &q4k.D));
        Assert.Equal(2, Offset(&q4k, &q4k.DMin));
        Assert.Equal(4, Offset(&q4k, q4k.Scales));
        Assert.Equal(16, Offset(&q4k, q4k.Qs));

        BlockQ3_K q3k = default;
        Assert.Equal(32, Offset(&q3k, q3k.Qs));
        Assert.Equal(96, Offset(&q3k, q3k.Scales));
        Assert.Equal(108, Offset(&q3k, &q3k.D));

        BlockQ6_K q6k = default;
        Assert.Equal(128, Offset(&q6k, q6k.Qh));
        Assert.Equal(192, Offset(&q6k, q6k.Scales));
        Assert.Equal(208, Offset(&q6k, &q6k.D));

        BlockQ8_K q8k = default;
        Assert.Equal(4, Offset(&q8k, q8k.Qs));
        Assert.Equal(260, Offset(&q8k, q8k.BSums));

        BlockIQ4_XS iq4xs = default;
        Assert.Equal(2, Offset(&iq4xs, iq4xs.Scales));
        Assert.Equal(8, Offset(&iq4xs, iq4xs.Qs));

        BlockTQ1_0 tq1 = default;
        Assert.Equal(48, Offset(&tq1, tq1.Qh));
        Assert.Equal(52, Offset(&tq1, &tq1.D));
    }

    private static unsafe long Offset<TBlock, TField>(TBlock* block, TField* field)
        where TBlock : unmanaged
        where TField : unmanaged => (byte*)field - (byte*)block;

    private static int SizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static T Constant<T>(Type type, string name) =>
        (T)type.GetField(name, BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
}
