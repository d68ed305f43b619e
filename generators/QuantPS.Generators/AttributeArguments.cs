using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace QuantPS.Generators;

/// <summary>
/// An attribute's constructor and named arguments by name, so the reader does not depend on
/// argument order and can tell a missing argument from a default.
/// </summary>
internal sealed class AttributeArguments
{
    private readonly Dictionary<string, TypedConstant> values = new(StringComparer.Ordinal);

    public AttributeArguments(AttributeData data)
    {
        var constructor = data.AttributeConstructor;
        if (constructor is null || constructor.Parameters.Length != data.ConstructorArguments.Length)
        {
            HasErrors = true;
        }
        else
        {
            for (var i = 0; i < constructor.Parameters.Length; i++)
            {
                values[constructor.Parameters[i].Name] = data.ConstructorArguments[i];
            }
        }

        foreach (var named in data.NamedArguments)
        {
            values[named.Key] = named.Value;
        }

        HasErrors |= values.Values.Any(value => value.Kind == TypedConstantKind.Error);
    }

    /// <summary>The compiler could not bind the attribute (missing or mistyped arguments).</summary>
    public bool HasErrors { get; }

    public bool Has(string name) => values.ContainsKey(name);

    public long? GetInteger(string name)
    {
        if (!values.TryGetValue(name, out var constant) || constant.Value is null)
        {
            return null;
        }

        return constant.Value switch
        {
            int i => i,
            uint u => u,
            long l => l,
            short s => s,
            ushort us => us,
            byte b => b,
            sbyte sb => sb,
            _ => null,
        };
    }

    public int GetInt32(string name, int fallback)
    {
        var value = GetInteger(name);
        return value is >= int.MinValue and <= int.MaxValue ? (int)value.Value : fallback;
    }

    public string? GetString(string name) =>
        values.TryGetValue(name, out var constant) ? constant.Value as string : null;

    public bool GetBoolean(string name) =>
        values.TryGetValue(name, out var constant) && constant.Value is true;

    /// <summary>The member name of an enum argument, read from the enum symbol so values can be reordered freely.</summary>
    public string? GetEnumMemberName(string name)
    {
        if (!values.TryGetValue(name, out var constant) || constant.Type is not INamedTypeSymbol enumType || constant.Value is null)
        {
            return null;
        }

        foreach (var member in enumType.GetMembers().OfType<IFieldSymbol>())
        {
            if (member.HasConstantValue && Equals(member.ConstantValue, constant.Value))
            {
                return member.Name;
            }
        }

        return null;
    }
}
