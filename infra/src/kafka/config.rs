//! Where the bus is: `kafka://host:port[,host:port…]/topic[?partitions=N&replication=N&assign=…]`.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use watershed_domain::ports::BusError;

use super::unavailable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    /// Used when the topic is created: the ceiling on how many projector processes share the work.
    pub partitions: i32,
    pub replication: i32,
    /// The partitions this process consumes (`assign=0-5,8`), or all. Projector processes of one
    /// group split the topic this way: each reads its own partitions from the group's offsets.
    pub assign: Option<Vec<i32>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaUrlError {
    #[error("a Kafka bus URL starts with kafka://, got {0:?}")]
    Scheme(String),
    #[error(
        "a Kafka bus URL names at least one broker and a topic: kafka://host:port/topic, got {0:?}"
    )]
    Shape(String),
    #[error("unknown Kafka bus option {0:?} (known: partitions, replication, assign)")]
    Option(String),
    #[error("Kafka bus option assign takes partition numbers and ranges, like 0-5,8; got {0:?}")]
    Assign(String),
    #[error("Kafka bus option {0} takes a positive number")]
    Number(&'static str),
}

impl KafkaConfig {
    pub fn from_url(url: &str) -> Result<Self, KafkaUrlError> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| KafkaUrlError::Scheme(url.to_owned()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (servers, topic) = path
            .split_once('/')
            .filter(|(s, t)| !s.is_empty() && !t.is_empty() && !t.contains('/'))
            .ok_or_else(|| KafkaUrlError::Shape(url.to_owned()))?;
        let mut config = Self {
            bootstrap_servers: servers.to_owned(),
            topic: topic.to_owned(),
            partitions: 12,
            replication: 1,
            assign: None,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "assign" {
                config.assign = Some(partition_list(value)?);
                continue;
            }
            let slot = match key {
                "partitions" => (&mut config.partitions, "partitions"),
                "replication" => (&mut config.replication, "replication"),
                other => return Err(KafkaUrlError::Option(other.to_owned())),
            };
            *slot.0 = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(KafkaUrlError::Number(slot.1))?;
        }
        Ok(config)
    }

    /// Settings every client shares.
    pub(super) fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", "watershed");
        config
    }

    /// Creates the topic unless it exists. Its partition count is fixed from then on.
    pub async fn ensure_topic(&self) -> Result<(), BusError> {
        let admin: AdminClient<DefaultClientContext> = self
            .client()
            .create()
            .map_err(|e| unavailable("creating a Kafka admin client", e))?;
        let topic = NewTopic::new(
            &self.topic,
            self.partitions,
            TopicReplication::Fixed(self.replication),
        );
        let results = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .map_err(|e| unavailable("creating the topic", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(BusError::Unavailable(format!(
                        "creating topic {name}: {code}"
                    )))
                }
            }
        }
        Ok(())
    }
}

/// `0-5,8` → [0, 1, 2, 3, 4, 5, 8].
fn partition_list(text: &str) -> Result<Vec<i32>, KafkaUrlError> {
    let bad = || KafkaUrlError::Assign(text.to_owned());
    let number = |n: &str| n.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(bad);
    let mut ids = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                if from > to {
                    return Err(bad());
                }
                ids.extend(from..=to);
            }
            None => ids.push(number(part)?),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_brokers_topic_and_options() {
        let c = KafkaConfig::from_url("kafka://a:9092,b:9092/events?partitions=3&replication=2")
            .unwrap();
        assert_eq!(c.bootstrap_servers, "a:9092,b:9092");
        assert_eq!(c.topic, "events");
        assert_eq!((c.partitions, c.replication), (3, 2));
        let plain = KafkaConfig::from_url("kafka://127.0.0.1:9092/t").unwrap();
        assert_eq!((plain.partitions, plain.replication), (12, 1));
        assert_eq!(plain.assign, None, "every partition unless told");
        let share = KafkaConfig::from_url("kafka://h/t?assign=4-6,0,5").unwrap();
        assert_eq!(share.assign, Some(vec![0, 4, 5, 6]));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert!(matches!(
            KafkaConfig::from_url("http://x/t"),
            Err(KafkaUrlError::Scheme(_))
        ));
        for shape in [
            "kafka://host:9092",
            "kafka:///t",
            "kafka://h/",
            "kafka://h/a/b",
        ] {
            assert!(
                matches!(KafkaConfig::from_url(shape), Err(KafkaUrlError::Shape(_))),
                "{shape}"
            );
        }
        assert_eq!(
            KafkaConfig::from_url("kafka://h/t?partitions=0"),
            Err(KafkaUrlError::Number("partitions"))
        );
        assert_eq!(
            KafkaConfig::from_url("kafka://h/t?acks=1"),
            Err(KafkaUrlError::Option("acks".into()))
        );
        for bad in ["", "a", "3-1", "-1", "1,,2"] {
            assert_eq!(
                KafkaConfig::from_url(&format!("kafka://h/t?assign={bad}")),
                Err(KafkaUrlError::Assign(bad.into())),
                "{bad}"
            );
        }
    }
}
