//! JSON with its object keys in the order they were written, to compare the emulator's bodies
//! with Twilio's examples field by field (`serde_json::Value` sorts keys).

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// The skeleton of a JSON value: objects keep their keys in order; leaves are all alike.
#[derive(Debug, PartialEq)]
pub enum Shape {
    Object(Vec<(String, Shape)>),
    Array(Vec<Shape>),
    Scalar,
}

impl Shape {
    pub fn of(text: &str) -> Shape {
        serde_json::from_str(text).unwrap()
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Shape::Object(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }

    pub fn field(&self, name: &str) -> &Shape {
        match self {
            Shape::Object(fields) => &fields.iter().find(|(k, _)| k == name).unwrap().1,
            _ => panic!("not an object: {self:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let mut fields = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    fields.push((key, map.next_value()?));
                }
                Ok(Shape::Object(fields))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Shape::Array(items))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Scalar)
            }
        }
        deserializer.deserialize_any(ShapeVisitor)
    }
}

#[test]
fn shapes_keep_key_order() {
    let shape = Shape::of(r#"{"b": 1, "a": [{"d": null, "c": "x"}]}"#);
    assert_eq!(shape.keys(), ["b", "a"]);
    let Shape::Array(items) = shape.field("a") else {
        panic!()
    };
    assert_eq!(items[0].keys(), ["d", "c"]);
}
